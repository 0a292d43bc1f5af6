package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Errors of the store's operations; the HTTP layer maps each to its contract answer.
var (
	ErrUnknownConnection = errors.New("unknown tenant or connection")
	ErrUnknownUser       = errors.New("unknown user")
	ErrWrongCode         = errors.New("wrong, expired, used or exhausted code")
	ErrBlocked           = errors.New("user is blocked")
	ErrAccessDenied      = errors.New("user has no access to this client")
	ErrInvalidUser       = errors.New("invalid user")
)

// reservedFields are the keys the verify answer sets itself; a profile may not use them.
var reservedFields = []string{"user_id", "tenant", "client_id", "connection", "username"}

// User is one user of one connection. AllowedClients empty means every client.
type User struct {
	Tenant         string          `json:"tenant"`
	Connection     string          `json:"connection"`
	Username       string          `json:"username"`
	UserID         string          `json:"user_id"`
	Blocked        bool            `json:"blocked"`
	Profile        json.RawMessage `json:"profile,omitempty"` // a JSON object, e.g. {"name":..,"email":..,"email_verified":true}
	AllowedClients []string        `json:"allowed_clients,omitempty"`
}

// NormalizeUsername lower-cases email addresses; phone numbers and other names are kept.
func NormalizeUsername(username string) string {
	if strings.Contains(username, "@") {
		return strings.ToLower(username)
	}
	return username
}

// PutUser creates the user, or replaces every field of an existing one, creating the
// tenant's connection if needed. It reports whether the user was created.
func (s *Store) PutUser(ctx context.Context, u User) (created bool, err error) {
	profile, err := validateUser(&u)
	if err != nil {
		return false, err
	}
	now := s.now().UnixMilli()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO connections (tenant, name, created_at) VALUES (?, ?, ?)
			ON CONFLICT (tenant, name) DO NOTHING`, u.Tenant, u.Connection, now); err != nil {
			return err
		}
		connID, err := connectionID(ctx, tx, u.Tenant, u.Connection)
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRowContext(ctx, `SELECT id FROM users WHERE connection_id = ? AND username = ?`, connID, u.Username).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			err = tx.QueryRowContext(ctx, `INSERT INTO users (connection_id, username, user_id, blocked, profile, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, connID, u.Username, u.UserID, u.Blocked, profile, now, now).Scan(&id)
		case err == nil:
			_, err = tx.ExecContext(ctx, `UPDATE users SET user_id = ?, blocked = ?, profile = ?, updated_at = ? WHERE id = ?`,
				u.UserID, u.Blocked, profile, now, id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_clients WHERE user_id = ?`, id); err != nil {
			return err
		}
		for _, c := range u.AllowedClients {
			if _, err := tx.ExecContext(ctx, `INSERT INTO user_clients (user_id, client_id) VALUES (?, ?)
				ON CONFLICT DO NOTHING`, id, c); err != nil {
				return err
			}
		}
		return nil
	})
	return created, err
}

// validateUser normalises u and returns its profile as compact JSON text.
func validateUser(u *User) (string, error) {
	for _, f := range []struct{ name, v string }{
		{"tenant", u.Tenant}, {"connection", u.Connection}, {"username", u.Username}, {"user_id", u.UserID},
	} {
		if f.v == "" {
			return "", fmt.Errorf("%w: missing %s", ErrInvalidUser, f.name)
		}
	}
	u.Username = NormalizeUsername(u.Username)
	for _, c := range u.AllowedClients {
		if c == "" {
			return "", fmt.Errorf("%w: allowed_clients may not contain an empty string", ErrInvalidUser)
		}
	}
	if len(u.Profile) == 0 {
		return "{}", nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(u.Profile, &fields); err != nil || fields == nil {
		return "", fmt.Errorf("%w: profile must be a JSON object", ErrInvalidUser)
	}
	for _, k := range reservedFields {
		if _, ok := fields[k]; ok {
			return "", fmt.Errorf("%w: profile may not set %q", ErrInvalidUser, k)
		}
	}
	b, err := json.Marshal(fields)
	return string(b), err
}

// SetBlocked blocks or unblocks a user.
func (s *Store) SetBlocked(ctx context.Context, tenant, connection, username string, blocked bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := findUser(ctx, tx, tenant, connection, username)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET blocked = ?, updated_at = ? WHERE id = ?`, blocked, s.now().UnixMilli(), u.id)
		return err
	})
}

func connectionID(ctx context.Context, tx *sql.Tx, tenant, connection string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM connections WHERE tenant = ? AND name = ?`, tenant, connection).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrUnknownConnection
	}
	return id, err
}

// userRow is a user as verification needs it.
type userRow struct {
	id       int64
	username string
	userID   string
	blocked  bool
	profile  string
}

// findUser returns ErrUnknownConnection or ErrUnknownUser when there is no such user.
func findUser(ctx context.Context, tx *sql.Tx, tenant, connection, username string) (userRow, error) {
	connID, err := connectionID(ctx, tx, tenant, connection)
	if err != nil {
		return userRow{}, err
	}
	u := userRow{username: NormalizeUsername(username)}
	err = tx.QueryRowContext(ctx, `SELECT id, user_id, blocked, profile FROM users WHERE connection_id = ? AND username = ?`,
		connID, u.username).Scan(&u.id, &u.userID, &u.blocked, &u.profile)
	if errors.Is(err, sql.ErrNoRows) {
		return userRow{}, ErrUnknownUser
	}
	return u, err
}

// clientAllowed reports whether the user may use clientID.
func clientAllowed(ctx context.Context, tx *sql.Tx, userID int64, clientID string) (bool, error) {
	var restricted, listed bool
	err := tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM user_clients WHERE user_id = ?1),
		EXISTS (SELECT 1 FROM user_clients WHERE user_id = ?1 AND client_id = ?2)`, userID, clientID).Scan(&restricted, &listed)
	return !restricted || listed, err
}

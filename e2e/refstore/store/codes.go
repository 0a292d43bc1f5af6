package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/passwordless-verify/filter/shared/storewire"
)

// issuedCode is a freshly issued code and what its delivery needs to say.
type issuedCode struct {
	code      string
	username  string // normalised
	expiresAt time.Time
}

// IssueCode issues a new 6-digit code for the user and returns it; the user's older codes
// stop being valid. Only the code's salted hash is stored.
func (s *Store) IssueCode(ctx context.Context, tenant, connection, username string) (string, error) {
	c, err := s.issue(ctx, tenant, connection, username)
	return c.code, err
}

func (s *Store) issue(ctx context.Context, tenant, connection, username string) (issuedCode, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return issuedCode{}, err
	}
	code := fmt.Sprintf("%06d", n)
	salt := make([]byte, 16)
	rand.Read(salt) // never fails since Go 1.24
	now := s.now()
	expires := now.Add(s.codeTTL)
	var u userRow
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if u, err = findUser(ctx, tx, tenant, connection, username); err != nil {
			return err
		}
		// Deleting rather than flagging keeps exactly one live code per user.
		if _, err := tx.ExecContext(ctx, `DELETE FROM codes WHERE user_id = ?`, u.id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO codes (user_id, salt, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			u.id, salt, hashCode(salt, code), now.UnixMilli(), expires.UnixMilli())
		return err
	})
	if err != nil {
		return issuedCode{}, err
	}
	return issuedCode{code: code, username: u.username, expiresAt: expires}, nil
}

// Verify checks req.OTP against the user's newest code, in one transaction that holds the
// write lock from its start, so of concurrent verifications of one code exactly one wins.
// The verify step accepts a code once; the redirect step accepts a code that passed verify,
// once, and uses it up. On success it returns the JSON answer: user_id, tenant, client_id,
// connection, username and the profile fields, and for the redirect step redirect_params
// with a freshly minted authorization code. Otherwise the error is ErrUnknownConnection, ErrUnknownUser,
// ErrWrongCode, ErrBlocked, ErrAccessDenied, or a database error.
//
// The code is checked before the blocked flag and the client list, so those answers are
// only given to a caller who holds a valid code.
func (s *Store) Verify(ctx context.Context, req storewire.Request) ([]byte, error) {
	var answer []byte
	var outcome error // committed with the transaction, unlike a database error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := findUser(ctx, tx, req.Tenant, req.Connection, req.Username)
		if errors.Is(err, ErrUnknownConnection) || errors.Is(err, ErrUnknownUser) {
			outcome = err
			return nil
		}
		if err != nil {
			return err
		}
		ok, err := s.useCode(ctx, tx, u.id, req.OTP, req.Step)
		switch {
		case err != nil:
			return err
		case !ok:
			outcome = ErrWrongCode
			return nil
		case u.blocked:
			outcome = ErrBlocked
			return nil
		}
		allowed, err := clientAllowed(ctx, tx, u.id, req.ClientID)
		if err != nil {
			return err
		}
		if !allowed {
			outcome = ErrAccessDenied
			return nil
		}
		answer, err = successAnswer(req, u)
		return err
	})
	if err != nil {
		return nil, err
	}
	return answer, outcome
}

// useCode reports whether code matches the user's newest code while it is live and open to
// this step, and moves it on: verify marks it verified, redirect marks it used. A wrong code
// counts an attempt against it.
func (s *Store) useCode(ctx context.Context, tx *sql.Tx, userID int64, code, step string) (bool, error) {
	var (
		id, expiresAt  int64
		attempts       int
		used, verified bool
		salt, hash     []byte
	)
	err := tx.QueryRowContext(ctx, `SELECT id, salt, hash, expires_at, attempts, used, verified FROM codes
		WHERE user_id = ? ORDER BY id DESC LIMIT 1`, userID).Scan(&id, &salt, &hash, &expiresAt, &attempts, &used, &verified)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// verify takes a fresh code, redirect only one that passed verify.
	open := !verified
	next := `UPDATE codes SET verified = 1 WHERE id = ?`
	if step == storewire.StepRedirect {
		open = verified
		next = `UPDATE codes SET used = 1 WHERE id = ?`
	}
	if used || !open || attempts >= MaxAttempts || s.now().UnixMilli() >= expiresAt {
		return false, nil
	}
	if subtle.ConstantTimeCompare(hashCode(salt, code), hash) != 1 {
		_, err := tx.ExecContext(ctx, `UPDATE codes SET attempts = attempts + 1 WHERE id = ?`, id)
		return false, err
	}
	_, err = tx.ExecContext(ctx, next, id)
	return err == nil, err
}

// hashCode is SHA-256(salt || code). A 6-digit code is cheap to brute-force from a leaked
// row; the hash only keeps codes out of plain sight, the TTL and attempt limit do the rest.
func hashCode(salt []byte, code string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(code))
	return h.Sum(nil)
}

// successAnswer merges the identity fields over the stored profile.
func successAnswer(req storewire.Request, u userRow) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(u.profile), &fields); err != nil {
		return nil, fmt.Errorf("stored profile of user %d: %w", u.id, err)
	}
	for k, v := range map[string]string{
		"user_id":    u.userID,
		"tenant":     req.Tenant,
		"client_id":  req.ClientID,
		"connection": req.Connection,
		"username":   u.username,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		fields[k] = b
	}
	if req.Step == storewire.StepRedirect {
		// What the filter appends to the callback URL. The reference store only mints the
		// code; a real one would keep it for its token endpoint.
		b, err := json.Marshal(map[string]string{"code": rand.Text()})
		if err != nil {
			return nil, err
		}
		fields["redirect_params"] = b
	}
	return json.Marshal(fields)
}

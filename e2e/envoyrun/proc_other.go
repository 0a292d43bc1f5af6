//go:build !linux

package envoyrun

import "syscall"

// SysProcAttr: nothing special off Linux.
func SysProcAttr() *syscall.SysProcAttr { return nil }

//go:build !linux

package envoyrun

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }

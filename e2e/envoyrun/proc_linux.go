package envoyrun

import "syscall"

// Envoy dies with the process that started it, so a killed test run leaves no Envoy behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

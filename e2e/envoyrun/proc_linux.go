package envoyrun

import "syscall"

// Envoy gets its own process group, so a Ctrl-C at the terminal reaches only the program that
// started it, which then stops Envoy in order; and it dies with that program, so a killed
// test run leaves no Envoy behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

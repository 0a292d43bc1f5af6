package envoyrun

import "syscall"

// SysProcAttr is how Envoy (and the other processes the tests start) run: in their own process
// group, so a Ctrl-C at the terminal reaches only the program that started them, which then
// stops them in order; and they die with that program, so a killed test run leaves nothing
// behind.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

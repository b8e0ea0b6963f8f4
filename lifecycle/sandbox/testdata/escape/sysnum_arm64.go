package main

import "syscall"

// System call numbers the syscall package lacks.
const (
	sysSetns          = 268
	sysBpf            = 280
	sysUserfaultfd    = 282
	sysOpenByHandleAt = 265
	sysNameToHandleAt = 264
	sysIoUringSetup   = 425
	sysOpenTree       = 428
	sysFsopen         = 430
	sysClone3         = 435
)

func archAttempts(func(uintptr, ...uintptr) func() syscall.Errno) []attempt { return nil }

package bench

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// meter measures one run: wall time, this process's CPU time (getrusage) and peak RSS, and the
// infrastructure child's CPU time.
type meter struct {
	start    time.Time
	cpu      time.Duration
	infraCPU time.Duration
	infra    *infra
	chCPU    time.Duration
	chPids   []int // the ClickHouse servers written to
	hwmReset bool  // false: peak RSS is since the process started (clear_refs refused)
}

// sample is what a meter read at the end of a run.
type sample struct {
	seconds  float64
	cpu      time.Duration
	infraCPU time.Duration
	chCPU    time.Duration // the ClickHouse servers', merges included
	peakRSS  uint64        // bytes
	hwmReset bool
	load     float64 // the machine's 1-minute load average at the end
}

// startMeter collects garbage and returns freed memory to the OS, resets the process's peak RSS
// (VmHWM; Linux ≥ 4.0 via /proc/self/clear_refs), then starts the clocks.
func startMeter(in *infra, chPids []int) *meter {
	runtime.GC()
	debug.FreeOSMemory()
	m := &meter{infra: in, chPids: chPids, hwmReset: os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil}
	m.cpu = selfCPU()
	if in != nil {
		m.infraCPU = in.cpu()
	}
	m.chCPU = pidsCPU(chPids)
	m.start = time.Now()
	return m
}

func (m *meter) stop() sample {
	s := sample{seconds: time.Since(m.start).Seconds(), cpu: selfCPU() - m.cpu, hwmReset: m.hwmReset}
	if m.infra != nil {
		s.infraCPU = m.infra.cpu() - m.infraCPU
	}
	s.chCPU = pidsCPU(m.chPids) - m.chCPU
	s.peakRSS = peakRSS()
	s.load = loadAverage()
	return s
}

// loadAverage returns the 1-minute load average (/proc/loadavg), 0 if unknown: a run on a
// machine busy with other work is slower for reasons of its own.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS returns VmHWM from /proc/self/status, or getrusage's maxrss.
func peakRSS() uint64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		return uint64(ru.Maxrss) << 10
	}
	return 0
}

// pidsCPU is the CPU time of the processes pids, summed (procCPU).
func pidsCPU(pids []int) time.Duration {
	var d time.Duration
	for _, pid := range pids {
		if pid > 0 {
			d += procCPU(pid)
		}
	}
	return d
}

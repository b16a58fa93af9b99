package demo

import (
	"bufio"
	"os"
	"path/filepath"
)

// audit reads the servers' ledgers (every process's file in dir) and
// counts the Demo.Add calls that ran more than once, the successful ones
// that no server recorded, and the refused ones that a server ran.
func (s *Summary) audit(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.ids"))
	if err != nil {
		return err
	}
	runs := map[string]int{}
	for _, name := range files {
		if err := countIDs(name, runs); err != nil {
			return err
		}
	}
	for _, n := range runs {
		s.Duplicates += int64(n - 1)
	}
	for _, id := range s.added {
		if runs[id] == 0 {
			s.Lost++
		}
	}
	for _, id := range s.refused {
		if runs[id] > 0 {
			s.Phantoms++
		}
	}
	return nil
}

func countIDs(name string, runs map[string]int) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		runs[sc.Text()]++
	}
	return sc.Err()
}

package bundler

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestSlotsGoToTheLargestWaitingArchive(t *testing.T) {
	s := newSlots(1)
	ctx := context.Background()
	if err := s.acquire(ctx, 5); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 4)
	for k, size := range []int64{10, 300, 20, 300} {
		go func() {
			if err := s.acquire(ctx, size); err != nil {
				t.Error(err)
				return
			}
			got <- size
			s.release()
		}()
		// One at a time, so that arrival order is known (equal sizes: first come first served).
		waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.waiting) == k+1 })
	}
	s.release()
	var order []int64
	for range 4 {
		order = append(order, <-got)
	}
	if !slices.Equal(order, []int64{300, 300, 20, 10}) {
		t.Errorf("granted in order %v, want largest first", order)
	}
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.free == 1 && len(s.waiting) == 0 })
}

func TestSlotsCancelledWaiterLeavesNoHole(t *testing.T) {
	s := newSlots(1)
	if err := s.acquire(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.acquire(ctx, 100) }()
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.waiting) == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled acquire succeeded")
	}
	s.release()
	if s.free != 1 || len(s.waiting) != 0 {
		t.Errorf("free %d, waiting %d", s.free, len(s.waiting))
	}
	// The slot is still usable.
	if err := s.acquire(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached")
}

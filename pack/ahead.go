package pack

import (
	"errors"
	"io"
	"sync"
)

// Read-ahead: OpenFile splits a large file's work between two goroutines.
// A producer reads the blob (hashing its stored bytes) and decompresses it
// into a few fixed chunks; the caller's goroutine hashes the decoded content
// and writes it. Both cores work at once while memory stays at
// aheadChunks × aheadChunk per open file, whatever the file's size. The
// order of the bytes and every check are those of the serial path: the
// content's digest is still checked by the reader the caller reads, at EOF,
// so a caller that writes to a temporary file and renames it only after a
// clean EOF never puts an unverified byte at its final path.
const (
	aheadChunk  = 256 << 10
	aheadChunks = 4
	// aheadMin is the smallest file read ahead: below it the hand-over costs
	// more than it saves.
	aheadMin = 1 << 20
)

// readAhead controls whether OpenFile reads ahead (tests compare both paths).
var readAhead = true

var errAheadClosed = errors.New("read after Close")

// aheadBufs are the chunks, shared by every open file.
var aheadBufs = sync.Pool{New: func() any { b := make([]byte, aheadChunk); return &b }}

// aheadReader reads src on its own goroutine, up to aheadChunks chunks ahead
// of Read. Close stops the goroutine and waits for it, so src may be reused
// (a pooled decoder) afterwards.
type aheadReader struct {
	full chan *[]byte // filled chunks, in order; closed after the last
	free chan *[]byte // chunks Read has finished with
	stop chan struct{}
	done chan struct{}
	err  error // the producer's final error (io.EOF at a clean end); read after full is closed

	cur  *[]byte // the chunk being read
	rest []byte  // its unread part
	once sync.Once
}

func newAheadReader(src io.Reader) *aheadReader {
	a := &aheadReader{
		full: make(chan *[]byte, aheadChunks),
		free: make(chan *[]byte, aheadChunks),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range aheadChunks {
		a.free <- aheadBufs.Get().(*[]byte)
	}
	go a.produce(src)
	return a
}

func (a *aheadReader) produce(src io.Reader) {
	defer close(a.done)
	defer close(a.full)
	for {
		var buf *[]byte
		select {
		case buf = <-a.free:
		case <-a.stop:
			return
		}
		n, err := io.ReadFull(src, (*buf)[:cap(*buf)])
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF // a short last chunk
		}
		if n > 0 {
			*buf = (*buf)[:n]
			select {
			case a.full <- buf:
			case <-a.stop:
				aheadBufs.Put(buf)
				return
			}
		} else {
			aheadBufs.Put(buf)
		}
		if err != nil {
			a.err = err
			return
		}
	}
}

func (a *aheadReader) Read(p []byte) (int, error) {
	if len(a.rest) == 0 {
		if a.cur != nil {
			*a.cur = (*a.cur)[:cap(*a.cur)]
			a.free <- a.cur // never blocks: free holds every chunk at most once
			a.cur = nil
		}
		buf, ok := <-a.full
		if !ok {
			return 0, a.err
		}
		a.cur, a.rest = buf, *buf
	}
	n := copy(p, a.rest)
	a.rest = a.rest[n:]
	return n, nil
}

// Close stops the producer, waits for it and returns the chunks to the pool.
func (a *aheadReader) Close() error {
	a.once.Do(func() {
		close(a.stop)
		<-a.done
		if a.err == nil {
			a.err = errAheadClosed
		}
		if a.cur != nil {
			a.free <- a.cur
			a.cur, a.rest = nil, nil
		}
		for buf := range a.full {
			a.free <- buf
		}
		close(a.free)
		for buf := range a.free {
			*buf = (*buf)[:cap(*buf)]
			aheadBufs.Put(buf)
		}
	})
	return nil
}

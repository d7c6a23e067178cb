//go:build !unix

package verify

const nonblockFlag = 0

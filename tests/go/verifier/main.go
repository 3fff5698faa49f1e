// A tiny verifier built on Go's reference code for signed notes and RFC 6962 proofs
// (golang.org/x/mod/sumdb/note and sumdb/tlog, from Debian's golang-golang-x-mod-dev, in
// GOPATH mode). It checks what arkisto prints, sharing none of arkisto's code.
//
// Usage: verifier VKEY NOTE PROVE.json CONSISTENCY.json
// Prints "ok" and exits 0, or names what failed and exits 1.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, f+"\n", a...)
	os.Exit(1)
}

func hashes(in []string) []tlog.Hash {
	var out []tlog.Hash
	for _, s := range in {
		h, err := tlog.ParseHash(s)
		if err != nil {
			fail("bad hash %q: %v", s, err)
		}
		out = append(out, h)
	}
	return out
}

type head struct {
	Size int64  `json:"size"`
	Root string `json:"root"`
}

func main() {
	if len(os.Args) != 5 {
		fail("usage: verifier VKEY NOTE PROVE.json CONSISTENCY.json")
	}
	v, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint too short")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("tree size: %v", err)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("root: %v", err)
	}

	var prove struct {
		Events []struct {
			Role      string   `json:"role"`
			LeafIndex int64    `json:"leaf_index"`
			Line      string   `json:"line"`
			Proof     []string `json:"proof"`
		} `json:"events"`
	}
	b, err := os.ReadFile(os.Args[3])
	if err != nil {
		fail("%v", err)
	}
	if err := json.Unmarshal(b, &prove); err != nil {
		fail("prove json: %v", err)
	}
	if len(prove.Events) == 0 {
		fail("no events to check")
	}
	for _, e := range prove.Events {
		leaf := tlog.RecordHash([]byte(e.Line))
		if err := tlog.CheckRecord(tlog.RecordProof(hashes(e.Proof)), size, root, e.LeafIndex, leaf); err != nil {
			fail("inclusion of %s event %d: %v", e.Role, e.LeafIndex, err)
		}
	}

	var cons struct {
		Old   head     `json:"old"`
		New   head     `json:"new"`
		Proof []string `json:"proof"`
	}
	b, err = os.ReadFile(os.Args[4])
	if err != nil {
		fail("%v", err)
	}
	if err := json.Unmarshal(b, &cons); err != nil {
		fail("consistency json: %v", err)
	}
	oldRoot, newRoot := hashes([]string{cons.Old.Root})[0], hashes([]string{cons.New.Root})[0]
	if cons.New.Size != size || newRoot != root {
		fail("the consistency proof's new tree is not the signed checkpoint")
	}
	if err := tlog.CheckTree(tlog.TreeProof(hashes(cons.Proof)), cons.New.Size, newRoot, cons.Old.Size, oldRoot); err != nil {
		fail("consistency %d -> %d: %v", cons.Old.Size, cons.New.Size, err)
	}
	fmt.Println("ok")
}

package dcstest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/warden-ha/warden/internal/dcs"
)

func fakeStores(t *testing.T, members ...string) ([]dcs.Store, func(time.Duration), *Backend) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b := NewBackend(func() time.Time { return now })
	stores := make([]dcs.Store, len(members))
	for i, m := range members {
		stores[i] = b.Client(m, dcs.Options{Prefix: "/service/test/", Member: m, TTL: ConformanceTTL, RetryTimeout: time.Second})
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	return stores, func(d time.Duration) { now = now.Add(d); b.Expire() }, b
}

func TestFakeConformance(t *testing.T) {
	RunConformance(t, func(t *testing.T, members ...string) ([]dcs.Store, func(time.Duration)) {
		s, adv, _ := fakeStores(t, members...)
		return s, adv
	})
}

func TestUnreachableIsNotASentinel(t *testing.T) {
	s, _, b := fakeStores(t, "a", "b")
	ctx := context.Background()
	if ok, err := s[0].AcquireLeader(ctx); !ok || err != nil {
		t.Fatal(ok, err)
	}
	b.SetReachable("a", false)
	errs := []error{s[0].RefreshLeader(ctx), s[0].TouchMember(ctx, []byte(`{}`)), s[0].ReleaseLeader(ctx)}
	_, err := s[0].Load(ctx)
	errs = append(errs, err)
	for i, err := range errs {
		if !errors.Is(err, ErrUnreachable) || errors.Is(err, dcs.ErrLockLost) || errors.Is(err, dcs.ErrNotFound) {
			t.Errorf("call %d: err = %v, want an unreachable error that is no sentinel", i, err)
		}
	}
	if c, err := s[1].Load(ctx); err != nil || c.LeaderName() != "a" {
		t.Fatalf("b sees %v, %v", c, err)
	}
	b.SetReachable("a", true)
	if err := s[0].RefreshLeader(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLazyExpiryWithoutExpireCall(t *testing.T) {
	now := time.Unix(0, 0)
	b := NewBackend(func() time.Time { return now })
	a := b.Client("a", dcs.Options{Prefix: "/service/x/", TTL: 3 * time.Second, RetryTimeout: time.Second})
	ctx := context.Background()
	if ok, _ := a.AcquireLeader(ctx); !ok {
		t.Fatal("acquire failed")
	}
	now = now.Add(2999 * time.Millisecond)
	if c, _ := a.Load(ctx); !c.Locked() {
		t.Fatal("expired before the deadline")
	}
	now = now.Add(time.Millisecond)
	if c, _ := a.Load(ctx); c.Locked() {
		t.Fatal("not expired at the deadline")
	}
}

func TestMemberChurnDoesNotWake(t *testing.T) {
	s, _, _ := fakeStores(t, "a", "b")
	ctx := context.Background()
	if _, err := s[1].Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s[0].TouchMember(ctx, []byte(`{"i":0}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s[1].Changes():
	default:
		t.Fatal("a new member key did not wake the loop")
	}
	for i := range 3 {
		if err := s[0].TouchMember(ctx, fmt.Appendf(nil, `{"i":%d}`, i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s[0].SetHistory(ctx, []byte(`[]`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s[1].Changes():
		t.Fatal("member or history write woke the loop")
	default:
	}
	if err := s[0].SetStatus(ctx, []byte(`{"optime":1}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s[1].Changes():
		t.Fatal("status write woke the loop")
	default:
	}
	if _, err := s[0].SetConfig(ctx, []byte(`{"ttl":5}`), -1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s[1].Changes():
	default:
		t.Fatal("config write did not wake the loop")
	}
}

func TestTouchMemberWritesOnlyOnChange(t *testing.T) {
	s, adv, b := fakeStores(t, "a")
	ctx := context.Background()
	if err := s[0].TouchMember(ctx, []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	rev := b.Revision()
	for range 5 {
		adv(ConformanceTTL / 2)
		if err := s[0].TouchMember(ctx, []byte(`{"x":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if b.Revision() != rev {
		t.Fatalf("unchanged member value rewritten: revision %d -> %d", rev, b.Revision())
	}
	if _, ok := b.Get("/service/test/members/a"); !ok {
		t.Fatal("member key expired although touched")
	}
}

// Package sim is a deterministic whole-cluster simulator for Warden's pure HA core. It
// drives ha.Decide for three nodes through seeded random failure schedules on a fake
// clock, against dcstest's in-memory store (the same fake the dcs conformance suite holds
// to etcd's behaviour), and checks invariants after every event.
//
// What is modelled:
//   - Each node: an agent (loop every loop_wait, sooner on Output.RetryIn or when a watch
//     event shows a new leader-key holder; a store call against an unreachable store
//     fails after retry_timeout of simulated time and the core then sees Cluster == nil;
//     the plan runs in order and stops at the first failure; long actions run in a
//     background worker for a simulated duration: bootstrap 2–4 s, clone 1–3 s, follow
//     0.2–2 s, promote 0.1–0.5 s, start-primary 0.5–3 s) and a PostgreSQL (data directory,
//     running/ready, primary or in recovery, timeline and history, one WAL position,
//     upstream).
//   - Tags per node (Config.Tags): with replicatefrom a standby streams from another
//     standby (a third of the random schedules tag the nodes in a ring, so whoever
//     leads, one standby cascades from the other); members publish their replication
//     state, and a healthy cluster has each standby under the upstream the core chooses.
//   - Clients write to every writable server on each replication tick (loop_wait/10);
//     standbys streaming from a running upstream catch up by a bounded amount per tick
//     and follow timeline switches; a fast stop of a primary hands its WAL to the
//     standbys streaming from it (the shutdown checkpoint), an immediate stop does not.
//   - Faults: kill -9 of a node (agent memory lost, postmaster stopped uncleanly, the store
//     session left to expire), restart, postmaster crash, graceful stop (SIGTERM),
//     partition from the store alone or from the store and the peers' REST APIs, whole
//     store outage, late loops (up to loop_wait), failed starts, and — only in Frozen
//     schedules — SIGSTOPped agents whose PostgreSQL keeps accepting writes. Failsafe
//     schedules turn failsafe_mode on, make store outages longer (up to 4*ttl) and add
//     nodes cut off from their peers' REST APIs while still reaching the store.
//     Flaky pre_promote schedules (Config.PrePromoteFlaky) make a third of the promotions'
//     pre_promote scripts fail until the faults are healed: the holder releases the key
//     and skips leader races for ttl.
//   - failsafe_mode: the leader writes /failsafe after each acquire or refresh; a primary
//     whose store read failed sends POST /failsafe to the other listed members, each
//     answered at once by ha.AnswerFailsafe (a member whose last read succeeded reads the
//     store again, as the agent does); acceptances and the agent's start reach the core.
//
// Invariants, checked after every event:
//  1. never two writable servers at once (Frozen schedules count the windows instead:
//     that hole is closed by a fencing process, not by the core);
//  2. a promotion starts only while the store shows the promoting node holding the key;
//  3. no node follows itself;
//  4. the leader key never outlives its holder's last lease keep-alive by ttl (the model
//     tracks keep-alives independently of the store) and belongs to a session the
//     model saw acquire or re-attach it;
//  5. liveness: once every fault is healed the cluster has, within a bound, exactly one
//     primary holding the key and every other node streaming from it (or from its
//     replicatefrom member, when that one streams from the primary);
//  6. in GracefulOnly schedules, no server starts accepting writes below the WAL position
//     acknowledged before a graceful stop of a primary whose replicas had caught up;
//  7. in synchronous schedules (Config.SyncMode on or quorum), no server starts accepting
//     writes below a position acknowledged synchronously: a primary acknowledges up to the
//     K-th highest position its direct standbys named in synchronous_standby_names have
//     received (ha.Acknowledged); those schedules also give standbys a random 0–400 bytes
//     per tick and add stalled WAL receivers (Stall), so that voters differ.
//
// What is not modelled: real PostgreSQL timing and its failure modes (WAL divergence
// needing pg_rewind, corrupt data directories, slots), the timing of individual store
// requests (each is instant or fails after retry_timeout), asymmetric network partitions
// between agents beyond "a peer's REST API answers or not", and clock skew between
// nodes. A run is a pure function of its Config: the same seed replays the same
// transcript.
package sim

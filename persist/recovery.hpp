#pragma once
// persist/recovery: the start-up purge that runs before the broker loads its state: sessions
// whose expiry passed during the downtime (measured in wall-clock time) go with everything of
// theirs, expired queued and retained messages go, and records of clients without a session
// (left by a crash between two commits of an older version, or written by hand) go.
// Owns: what "expired across a restart" means. Must not use: I/O beyond the store.
// Thread safety: call before the store is shared (start-up).

#include <cstdint>

#include <boost/system/result.hpp>

#include "persist/store.hpp"

namespace thinggate::persist {

struct purge_stats {
    std::uint64_t sessions = 0;          ///< expired sessions removed (with all their records)
    std::uint64_t orphans = 0;           ///< clients with records but no session, removed
    std::uint64_t queued_messages = 0;   ///< expired queued messages removed
    std::uint64_t retained_messages = 0; ///< expired retained messages removed
};

/// The time a session's connection ended: its disconnected_at, or for a session that was
/// connected when the process stopped, the last heartbeat (nullopt if none was written).
std::optional<wall_time>
session_end(const session_record& s, std::optional<wall_time> last_heartbeat) noexcept;

/// True when the session's expiry interval has passed at `now`. A session whose end is unknown
/// (connected, no heartbeat) counts as ending at `now`: the downtime is not held against it.
bool session_expired(
        const session_record& s, std::optional<wall_time> last_heartbeat, wall_time now) noexcept;

/// Removes what expired by `now` in one batch committed with `d`. In-flight messages stay (they
/// were sent; the client still acknowledges them) and so do incoming QoS 2 ids of live sessions.
boost::system::result<purge_stats> purge_expired(store& s, wall_time now, durability d);

/// The meta heartbeat, if one was written.
boost::system::result<std::optional<wall_time>> last_heartbeat(const store& s);

} // namespace thinggate::persist

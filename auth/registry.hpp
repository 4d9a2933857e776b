#pragma once
// auth/registry: the identity registry — CA and device certificates, things, thing types, static
// thing groups, policies (with versions) and attachments (docs/security.md). Loaded from a
// persist::store; every change is validated (AWS IoT's rules), written with commit_sync and then
// published as a new immutable registry_snapshot.
// Owns: registry mutations and their rules, publication, change notification. Must not use:
// Asio, sockets; it writes through persist::store only.
// Thread safety: snapshot() may be called from any thread (a shard's data path): it is one atomic
// shared_ptr load and never waits for an update in progress. update() may be called from any
// thread except a shard (it blocks on the store's commit); updates are serialised by a mutex.
// Listeners run on the updating thread, in commit order, with that mutex held: they must not
// call update(), reload(), on_change() or remove_listener() (post the work elsewhere instead).
//
// How the broker/transport uses this
// ----------------------------------
// Start-up (app/):   auto reg = registry::open(store).value();
//                    ensure_dev_registry(*reg, pki, thing)   (dev PKI only; dev_registry.hpp)
//                    apply_registry_file(*reg, path)          (optional; registry_file.hpp)
// TLS handshake (transport/, in the verify callback or right after the handshake):
//                    auto snap = reg->snapshot();
//                    auto v = verify_client_certificate(*snap, leaf, chain, now, {account});
//                    accepted -> keep v.certificate_id with the connection;
//                    jitr     -> off the shard: reg->update([&](registry_txn& t) {
//                                    return t.record_jitr(*v.jitr_entry); });
//                                publish v.jitr_topic / v.jitr_payload; refuse the connection;
//                    refused  -> close, log v.message (peer_verify.hpp).
// CONNECT (broker/): auto conn = resolve_connection(*snap, ctx)   (effective_policy.hpp)
//                    where ctx has client_id, certificate = certificate_fields(leaf), source ip,
//                    SNI. conn.policies (a policy::compiled_policy_set) is evaluated per request;
//                    conn.thing is the thing name for lifecycle events.
// Changes:           reg->on_change([](const registry_change& c) { post to every shard: ... });
//                    for each live connection: c.certificate_left_active(id) -> disconnect;
//                    c.policies_may_have_changed() -> resolve_connection() again with
//                    c.snapshot, swap the compiled set, clear the decision cache;
//                    c.trust_may_have_changed() -> verify_client_certificate() again for each
//                    live connection's certificate; refused -> disconnect.
// CRL reload:        reg->reload() re-reads every CRL file into a new snapshot.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/registry_error.hpp"
#include "auth/registry_model.hpp"
#include "auth/registry_snapshot.hpp"
#include "persist/store.hpp"
#include "persist/write_batch.hpp"

namespace thinggate::auth {

/// One change a transaction made, for listeners.
struct registry_event {
    enum class kind : std::uint8_t {
        ca_changed, ///< registered, status / auto-registration / CRL file changed
        ca_deleted,
        certificate_added,  ///< registered (also by just-in-time registration)
        certificate_status, ///< status changed: old_status -> new_status
        certificate_deleted,
        thing_changed, ///< created or updated (type, attributes)
        thing_deleted,
        thing_type_changed, ///< created or deleted
        group_changed,      ///< created or deleted
        membership_changed, ///< a thing joined or left a group: name = thing, detail = group
        policy_changed,     ///< created, default version changed, deleted: name = policy
        attachment_changed, ///< attached or detached: name = attachment key
        trust_reloaded,     ///< registry::reload(): CRL files read again
    };

    kind what = kind::thing_changed;
    std::string name; ///< the entry's key (certificate id, thing name, policy name, ...)
    std::string detail;
    std::optional<certificate_status> old_status; ///< certificate_status, certificate_deleted
    std::optional<certificate_status> new_status; ///< certificate_status, certificate_added
};

/// What listeners receive after a transaction has been committed and published.
struct registry_change {
    std::shared_ptr<const registry_snapshot> snapshot; ///< the snapshot that holds the change
    std::vector<registry_event> events;                ///< in the order they were made

    /// True when the certificate was ACTIVE before this change and is not (or no longer exists):
    /// its live connections must be disconnected.
    bool certificate_left_active(std::string_view certificate_id) const;

    /// True when any event can change some connection's effective policies or variables
    /// (policies, attachments, memberships, things, groups). Connections then re-resolve.
    bool policies_may_have_changed() const;

    /// True when a CA changed (status, CRL file, deleted) or the CRLs were reloaded: live
    /// connections' certificates should be verified again (verify_client_certificate).
    bool trust_may_have_changed() const;
};

/// A transaction: mutations applied to a working copy of the registry, written as one batch.
/// Every mutation validates first and changes nothing when it fails. Obtained only inside
/// registry::update().
class registry_txn {
public:
    const registry_state& state() const noexcept { return state_; }

    registry_time now() const noexcept { return now_; }

    // --- CA certificates ---
    /// Registers a CA certificate (must be a CA: basicConstraints CA:TRUE). Returns its id.
    registry_result<std::string> register_ca(
            std::string_view pem, ca_status status, bool auto_registration, std::string crl_file);
    /// Changes what is given; nullopt leaves a field as it is.
    registry_result<void> update_ca(
            std::string_view id,
            std::optional<ca_status> status,
            std::optional<bool> auto_registration,
            std::optional<std::string> crl_file);
    /// Refused while ACTIVE or while device certificates it issued are registered.
    registry_result<void> delete_ca(std::string_view id);

    // --- device certificates ---
    /// Registers a device certificate issued by a registered CA (any status). Returns its id.
    registry_result<std::string>
    register_certificate(std::string_view pem, certificate_status status);
    /// ACTIVE / INACTIVE / REVOKED (REVOKED is final); PENDING_ACTIVATION may become ACTIVE.
    /// The PENDING_* statuses cannot be set here.
    registry_result<void> update_certificate(std::string_view id, certificate_status status);
    /// Refused while ACTIVE or attached to a policy or a thing.
    registry_result<void> delete_certificate(std::string_view id);
    /// Just-in-time registration: records `entry` (status PENDING_ACTIVATION, as produced by
    /// verify_client_certificate). Returns false, changing nothing, when it is registered already.
    registry_result<bool> record_jitr(const certificate& entry);

    // --- things, types, groups ---
    /// Creating an existing thing with the same type and attributes succeeds and changes nothing
    /// (AWS); with different ones it is already_exists.
    registry_result<void>
    create_thing(std::string_view name, std::string_view type_name, attribute_map attributes);
    /// Replaces what is given; the version goes up when anything changed.
    registry_result<void> update_thing(
            std::string_view name,
            std::optional<std::string> type_name,
            std::optional<attribute_map> attributes);
    /// Refused while a certificate is attached; leaves its groups.
    registry_result<void> delete_thing(std::string_view name);
    registry_result<void> create_thing_type(std::string_view name, std::string_view description);
    /// Refused while a thing has this type.
    registry_result<void> delete_thing_type(std::string_view name);
    /// The parent must exist; at most 7 levels. Same idempotence rule as create_thing.
    registry_result<void> create_thing_group(
            std::string_view name, std::string_view parent, std::string_view description);
    /// Refused while it has child groups; removes its memberships and policy attachments.
    registry_result<void> delete_thing_group(std::string_view name);
    /// Idempotent; a thing belongs to at most 10 groups.
    registry_result<void> add_thing_to_group(std::string_view thing_name, std::string_view group);
    registry_result<void>
    remove_thing_from_group(std::string_view thing_name, std::string_view group);

    // --- policies ---
    /// Validates the document with policy::parse_policy (the message names the statement).
    registry_result<void> create_policy(std::string_view name, std::string_view document);
    /// At most 5 versions. Returns the new version id.
    registry_result<std::uint32_t>
    create_policy_version(std::string_view name, std::string_view document, bool set_as_default);
    registry_result<void> set_default_policy_version(std::string_view name, std::uint32_t version);
    /// The default version cannot be deleted.
    registry_result<void> delete_policy_version(std::string_view name, std::uint32_t version);
    /// Refused while attached or while it has versions besides the default (AWS).
    registry_result<void> delete_policy(std::string_view name);

    // --- attachments (attaching twice is a no-op, detaching what is not attached is not_found)
    /// At most 10 policies per certificate.
    registry_result<void>
    attach_policy_to_certificate(std::string_view policy_name, std::string_view certificate_id);
    /// At most 2 policies per thing group.
    registry_result<void>
    attach_policy_to_group(std::string_view policy_name, std::string_view group);
    registry_result<void>
    detach_policy_from_certificate(std::string_view policy_name, std::string_view certificate_id);
    registry_result<void>
    detach_policy_from_group(std::string_view policy_name, std::string_view group);
    /// exclusive: the certificate may be attached to no other thing (refused if it is), and no
    /// other thing may be attached to it later. Re-attaching changes the flag.
    registry_result<void> attach_thing_principal(
            std::string_view thing_name, std::string_view certificate_id, bool exclusive);
    registry_result<void>
    detach_thing_principal(std::string_view thing_name, std::string_view certificate_id);

private:
    friend class registry;

    registry_txn(
            registry_state& state,
            persist::write_batch& batch,
            std::vector<registry_event>& events,
            registry_time now)
        : state_(state)
        , batch_(batch)
        , events_(events)
        , now_(now) {}

    registry_result<void> attach(attachment a);
    registry_result<void>
    detach(attachment_kind kind,
           std::string_view first,
           std::string_view second,
           std::string_view what);
    void erase_attachment(const std::string& key);
    void event(registry_event::kind k, std::string name, std::string detail = {});

    registry_state& state_;
    persist::write_batch& batch_;
    std::vector<registry_event>& events_;
    registry_time now_;
};

struct registry_options {
    /// How commit_sync waits: fsync by default (control operations are rare and must stick).
    persist::durability durability = persist::durability::fsync;
    /// The clock for created_at fields and record_jitr (tests pin it).
    std::function<registry_time()> clock = [] {
        return persist::wall_now();
    };
};

class registry {
public:
    using listener = std::function<void(const registry_change&)>;
    using listener_id = std::uint64_t;

    /// Loads every registry record from `store` (strict decoding: a corrupt record is an error
    /// naming it) and publishes the first snapshot. `store` must outlive the registry.
    static registry_result<std::unique_ptr<registry>>
    open(persist::store& store, registry_options options = {});

    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    /// The current snapshot (never null; one atomic load).
    std::shared_ptr<const registry_snapshot> snapshot() const noexcept {
        return snapshot_.load(std::memory_order_acquire);
    }

    /// Runs `fn(txn)` on a working copy; when it succeeds and changed something, commits the
    /// batch (commit_sync), publishes the new snapshot and tells the listeners. When `fn` fails,
    /// or the commit does, nothing is changed and the error is returned. `fn` returns
    /// registry_result<T>; update returns what it returned.
    template <typename F>
    auto update(F&& fn) -> decltype(fn(std::declval<registry_txn&>())) {
        using result_type = decltype(fn(std::declval<registry_txn&>()));
        std::optional<result_type> out;
        auto done = run([&](registry_txn& txn) -> registry_result<void> {
            out.emplace(fn(txn));
            if (out->has_error()) {
                return out->error();
            }
            return {};
        });
        if (done.has_error() && (!out || out->has_value())) {
            return done.error(); // the commit failed
        }
        return std::move(*out);
    }

    /// Re-reads every CA's CRL file into a new snapshot (and tells the listeners).
    void reload();

    /// Registers a listener for committed changes; returns an id for remove_listener.
    listener_id on_change(listener l);
    void remove_listener(listener_id id);

private:
    registry(persist::store& store, registry_options options);

    registry_result<void> run(const std::function<registry_result<void>(registry_txn&)>& fn);
    void publish(registry_state state, std::vector<registry_event> events);

    persist::store& store_;
    registry_options options_;
    std::atomic<std::shared_ptr<const registry_snapshot>> snapshot_;
    std::mutex mutex_; ///< serialises updates, publication and listener calls
    std::vector<std::pair<listener_id, listener>> listeners_;
    listener_id next_listener_ = 1;
};

} // namespace thinggate::auth

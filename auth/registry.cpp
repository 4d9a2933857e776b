#include "auth/registry.hpp"

#include <functional>
#include <stdexcept>
#include <utility>

namespace thinggate::auth {

namespace {

registry_error corrupt(std::string message) {
    return make_registry_error(registry_errc::corrupt, std::move(message));
}

/// Reads every blob of `kind`, decodes it with `decode` and hands it to `add`. The first
/// failure (storage or decoding) stops the load.
template <typename Decode, typename Add>
registry_result<void>
load_kind(const persist::store& store, persist::blob_kind kind, Decode decode, Add add) {
    std::optional<registry_error> failure;
    auto ec = store.for_each_blob(kind, [&](persist::blob_record&& r) {
        auto decoded = decode(r);
        if (!decoded) {
            failure = decoded.error();
            return false;
        }
        if (auto added = add(std::move(*decoded)); !added) {
            failure = added.error();
            return false;
        }
        return true;
    });
    if (ec) {
        return make_registry_error(
                registry_errc::storage, "cannot read the registry: " + store.describe(ec));
    }
    if (failure) {
        return *failure;
    }
    return {};
}

registry_result<registry_state> load_state(const persist::store& store) {
    using persist::blob_kind;
    registry_state s;
    auto by_id = [](auto& map) {
        return [&map](auto&& e) -> registry_result<void> {
            std::string key = e.id;
            map.emplace(std::move(key), std::move(e));
            return {};
        };
    };
    auto by_name = [](auto& map) {
        return [&map](auto&& e) -> registry_result<void> {
            std::string key = e.name;
            map.emplace(std::move(key), std::move(e));
            return {};
        };
    };
    auto add_version = [&](stored_policy_version&& v) -> registry_result<void> {
        auto it = s.policies.find(v.policy_name);
        if (it == s.policies.end()) {
            return corrupt(
                    "policy version \"" + v.policy_name + '/' +
                    std::to_string(v.version.version_id) + "\": no such policy");
        }
        it->second.versions.emplace(v.version.version_id, std::move(v.version));
        return {};
    };
    auto add_attachment = [&](attachment&& a) -> registry_result<void> {
        auto key = attachment_key(a.kind, a.first, a.second);
        s.attachments.emplace(std::move(key), std::move(a));
        return {};
    };
    // Policies before their versions; everything else in any order.
    const std::function<registry_result<void>()> steps[] = {
            [&] {
                return load_kind(
                        store, blob_kind::ca_certificate, decode_ca_certificate, by_id(s.cas));
            },
            [&] {
                return load_kind(
                        store, blob_kind::certificate, decode_certificate, by_id(s.certificates));
            },
            [&] {
                return load_kind(
                        store, blob_kind::thing_type, decode_thing_type, by_name(s.thing_types));
            },
            [&] { return load_kind(store, blob_kind::thing, decode_thing, by_name(s.things)); },
            [&] {
                return load_kind(
                        store, blob_kind::thing_group, decode_thing_group, by_name(s.groups));
            },
            [&] { return load_kind(store, blob_kind::policy, decode_policy, by_name(s.policies)); },
            [&] {
                return load_kind(
                        store, blob_kind::policy_version, decode_policy_version, add_version);
            },
            [&] {
                return load_kind(store, blob_kind::attachment, decode_attachment, add_attachment);
            },
    };
    for (const auto& step : steps) {
        if (auto r = step(); !r) {
            return r.error();
        }
    }
    // References between records: every one must resolve, or the data is not ours to trust.
    for (const auto& [name, p] : s.policies) {
        if (p.versions.count(p.default_version) == 0) {
            return corrupt(
                    "policy \"" + name + "\": its default version " +
                    std::to_string(p.default_version) + " is not stored");
        }
        if (p.versions.size() > max_policy_versions) {
            return corrupt("policy \"" + name + "\": more than 5 versions");
        }
    }
    for (const auto& [id, c] : s.certificates) {
        if (s.cas.count(c.ca_id) == 0) {
            return corrupt("certificate \"" + id + "\": its CA " + c.ca_id + " is not registered");
        }
    }
    for (const auto& [name, t] : s.things) {
        if (!t.type_name.empty() && s.thing_types.count(t.type_name) == 0) {
            return corrupt("thing \"" + name + "\": no such thing type \"" + t.type_name + "\"");
        }
    }
    for (const auto& [name, g] : s.groups) {
        if (!g.parent.empty() && s.groups.count(g.parent) == 0) {
            return corrupt("thing group \"" + name + "\": no such parent \"" + g.parent + "\"");
        }
    }
    for (const auto& [key, a] : s.attachments) {
        bool first_ok = false;
        bool second_ok = false;
        switch (a.kind) {
        case attachment_kind::certificate_policy:
            first_ok = s.certificates.count(a.first) != 0;
            second_ok = s.policies.count(a.second) != 0;
            break;
        case attachment_kind::group_policy:
            first_ok = s.groups.count(a.first) != 0;
            second_ok = s.policies.count(a.second) != 0;
            break;
        case attachment_kind::certificate_thing:
            first_ok = s.certificates.count(a.first) != 0;
            second_ok = s.things.count(a.second) != 0;
            break;
        case attachment_kind::thing_group:
            first_ok = s.things.count(a.first) != 0;
            second_ok = s.groups.count(a.second) != 0;
            break;
        }
        if (!first_ok || !second_ok) {
            return corrupt("attachment \"" + key + "\": refers to an entry that does not exist");
        }
    }
    return s;
}

} // namespace

bool registry_change::certificate_left_active(std::string_view certificate_id) const {
    for (const auto& e : events) {
        if (e.name == certificate_id && e.old_status == certificate_status::active &&
            (e.what == registry_event::kind::certificate_deleted ||
             (e.what == registry_event::kind::certificate_status &&
              e.new_status != certificate_status::active))) {
            return true;
        }
    }
    return false;
}

bool registry_change::policies_may_have_changed() const {
    for (const auto& e : events) {
        switch (e.what) {
        case registry_event::kind::thing_changed:
        case registry_event::kind::thing_deleted:
        case registry_event::kind::group_changed:
        case registry_event::kind::membership_changed:
        case registry_event::kind::policy_changed:
        case registry_event::kind::attachment_changed:
            return true;
        default:
            break;
        }
    }
    return false;
}

bool registry_change::trust_may_have_changed() const {
    for (const auto& e : events) {
        if (e.what == registry_event::kind::ca_changed ||
            e.what == registry_event::kind::ca_deleted ||
            e.what == registry_event::kind::trust_reloaded) {
            return true;
        }
    }
    return false;
}

registry::registry(persist::store& store, registry_options options)
    : store_(store)
    , options_(std::move(options)) {}

registry_result<std::unique_ptr<registry>>
registry::open(persist::store& store, registry_options options) {
    auto state = load_state(store);
    if (!state) {
        return state.error();
    }
    std::unique_ptr<registry> reg(new registry(store, std::move(options)));
    try {
        reg->snapshot_.store(registry_snapshot::build(std::move(*state), 1, nullptr));
    } catch (const std::exception& e) {
        return corrupt(std::string("cannot load the registry: ") + e.what());
    }
    return reg;
}

registry_result<void> registry::run(const std::function<registry_result<void>(registry_txn&)>& fn) {
    std::lock_guard lock(mutex_);
    auto current = snapshot();
    registry_state working = current->state();
    persist::write_batch batch;
    std::vector<registry_event> events;
    registry_txn txn(working, batch, events, options_.clock());
    if (auto r = fn(txn); !r) {
        return r.error();
    }
    if (batch.empty()) {
        return {};
    }
    if (auto ec = store_.commit_sync(std::move(batch), options_.durability)) {
        return make_registry_error(
                registry_errc::storage,
                "the registry change was not saved: " + store_.describe(ec));
    }
    publish(std::move(working), std::move(events));
    return {};
}

void registry::publish(registry_state state, std::vector<registry_event> events) {
    auto current = snapshot();
    std::shared_ptr<const registry_snapshot> next =
            registry_snapshot::build(std::move(state), current->generation() + 1, current.get());
    snapshot_.store(next, std::memory_order_release);
    registry_change change{std::move(next), std::move(events)};
    for (const auto& [id, l] : listeners_) {
        l(change);
    }
}

void registry::reload() {
    std::lock_guard lock(mutex_);
    publish(snapshot()->state(),
            {registry_event{registry_event::kind::trust_reloaded, {}, {}, {}, {}}});
}

registry::listener_id registry::on_change(listener l) {
    std::lock_guard lock(mutex_);
    auto id = next_listener_++;
    listeners_.emplace_back(id, std::move(l));
    return id;
}

void registry::remove_listener(listener_id id) {
    std::lock_guard lock(mutex_);
    std::erase_if(listeners_, [id](const auto& entry) { return entry.first == id; });
}

} // namespace thinggate::auth

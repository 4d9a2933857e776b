// broker/authorize: a connection's policies — resolved and compiled at CONNECT from the registry,
// evaluated at CONNECT (and its will), each PUBLISH, each SUBSCRIBE filter and each delivery —,
// the answers to a denial per protocol version and compat profile (GATEWAY-SEMANTICS §2), the
// reaction to registry changes, and the lifecycle events (§3).
#include <chrono>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "auth/certificate_fields.hpp"
#include "auth/peer_verify.hpp"
#include "broker/client_machine.hpp"

namespace thinggate::broker {

namespace {

/// "1.2.3.4:5" -> "1.2.3.4"; "[::1]:5" -> "::1".
std::string source_ip(std::string_view remote) {
    if (remote.starts_with('[')) {
        const auto end = remote.find(']');
        return std::string(remote.substr(1, end == std::string_view::npos ? remote.size() - 1 : end - 1));
    }
    const auto colon = remote.rfind(':');
    return std::string(colon == std::string_view::npos ? remote : remote.substr(0, colon));
}

std::int64_t epoch_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
}

} // namespace

// ---------------------------------------------------------------- decisions

bool client_machine::authorize_connect(const mqtt::connect& p) {
    if (b_.registry == nullptr || !info_.certificate) {
        return true; // no identity to check (plain TCP, or a ca-file listener): documented
    }
    policy::context ctx;
    ctx.names = b_.opts.names;
    ctx.client_id = client_id_;
    ctx.source_ip = source_ip(info_.remote_address);
    ctx.domain_name = info_.sni;
    ctx.certificate = *info_.certificate;
    ctx.persistent_session = !p.clean_start || session_expiry_ > 0;
    if (will_) {
        ctx.will_topic = will_->topic;
    }
    auto snap = b_.registry->snapshot();
    auth_ = std::make_unique<auth::connection_policies>(auth::resolve_connection(*snap, std::move(ctx)));
    arns_.emplace(b_.opts.names);
    decisions_ = policy::decision_cache(64);

    bool ok = allowed(policy::action::connect, client_id_);
    if (ok && will_) {
        // A will needs iot:Publish (and iot:RetainPublish when retained) on its topic, now.
        ok = allowed(policy::action::publish, will_->topic) &&
             (!will_->retain || allowed(policy::action::retain_publish, will_->topic));
    }
    if (ok) {
        return true;
    }
    ++b_.denied;
    event_connect_failed("AUTHORIZATION_FAILED");
    if (!v5() && b_.opts.compat == compat_profile::aws_iot) {
        close_connection(false); // aws-iot: 3.1.1 gets no CONNACK
        return false;
    }
    fail(mqtt::reason_code::not_authorized); // v5 0x87, 3.1.1 return code 5
    return false;
}

bool client_machine::allowed(policy::action a, std::string_view name) {
    if (!auth_) {
        return true;
    }
    const auto resource = arns_->for_action(a, name);
    const auto d = decisions_.evaluate(auth_->policies, a, resource);
    if (d == policy::decision::allowed) {
        return true;
    }
    if (spdlog::should_log(spdlog::level::debug)) {
        spdlog::debug("{}: client '{}' (certificate {}): {} on {} denied: {}", info_.remote_address, client_id_,
                      info_.certificate->id.substr(0, 12), policy::action_name(a), resource,
                      auth_->policies.explain(a, resource).to_string());
    }
    return false;
}

bool client_machine::may_subscribe(std::string_view filter, std::string_view shared_part) {
    if (!allowed(policy::action::subscribe, filter)) {
        return false;
    }
    if (shared_part.empty()) {
        return true;
    }
    const auto resource = arns_->topic_filter(shared_part);
    if (auth_->policies.evaluate(policy::action::subscribe, resource) == policy::decision::explicit_deny) {
        spdlog::debug("{}: client '{}': {} refused: iot:Subscribe on {} is explicitly denied", info_.remote_address,
                      client_id_, filter, resource);
        return false;
    }
    return true;
}

void client_machine::deny_publish(const mqtt::publish_view& p) {
    ++b_.denied;
    const bool aws = b_.opts.compat == compat_profile::aws_iot;
    if (v5()) {
        if (p.qos == mqtt::qos::at_least_once) {
            send_ack(mqtt::packet_type::puback, p.packet_id, mqtt::reason_code::not_authorized,
                     false);
        } else if (p.qos == mqtt::qos::exactly_once) {
            send_ack(mqtt::packet_type::pubrec, p.packet_id, mqtt::reason_code::not_authorized,
                     false);
        } else if (aws) {
            fail(mqtt::reason_code::not_authorized); // aws-iot: a denied QoS 0 ends the connection
        }
        return;
    }
    if (aws) {
        fail(mqtt::reason_code::not_authorized); // aws-iot 3.1.1: close
        return;
    }
    // mqtt profile, 3.1.1: acknowledged and dropped (3.1.1 has no way to say no).
    if (p.qos == mqtt::qos::at_least_once) {
        send_ack(mqtt::packet_type::puback, p.packet_id, mqtt::reason_code::success, false);
    } else if (p.qos == mqtt::qos::exactly_once) {
        session_->incoming_qos2.insert(p.packet_id); // so that its PUBREL completes
        send_ack(mqtt::packet_type::pubrec, p.packet_id, mqtt::reason_code::success, false);
    }
}

bool client_machine::may_receive(const queued_delivery& d) {
    if (!auth_ || allowed(policy::action::receive, d.msg->topic)) {
        return true;
    }
    ++b_.denied; // skipped and counted, never a disconnect
    return false;
}

// ---------------------------------------------------------------- registry changes

void client_machine::on_registry_change(const auth::registry_change& c) {
    if (!auth_ || closing_) {
        return;
    }
    const auto& id = info_.certificate->id;
    bool refuse = c.certificate_left_active(id);
    if (!refuse && c.trust_may_have_changed()) {
        // A CA's status or its CRL changed: verify the certificate again as at the handshake.
        const auto* cert = c.snapshot->find_certificate(id);
        auto leaf = cert != nullptr ? auth::parse_certificate_pem(cert->pem) : auth::registry_result<auth::x509_ptr>{};
        refuse = cert == nullptr || !leaf ||
                 !auth::verify_client_certificate(*c.snapshot, leaf->get(), nullptr, persist::wall_now(),
                                                  {b_.opts.names.account})
                          .accepted();
    }
    if (refuse) {
        spdlog::info("{}: client '{}': certificate {} is no longer ACTIVE or trusted, disconnecting",
                     info_.remote_address, client_id_, id);
        disconnect_reason_ = "AUTH_ERROR";
        fail(mqtt::reason_code::not_authorized);
        return;
    }
    if (c.policies_may_have_changed()) {
        auto ctx = auth_->context;
        auth_ = std::make_unique<auth::connection_policies>(auth::resolve_connection(*c.snapshot, std::move(ctx)));
        decisions_.clear(); // subscriptions no longer allowed stop receiving (iot:Receive)
    }
}

// ---------------------------------------------------------------- lifecycle events

bool client_machine::events_for_me() const noexcept {
    // Not for client ids that would read as wildcards in the event topics.
    return b_.opts.lifecycle_events && client_id_.find_first_of("+#") == std::string::npos &&
           !client_id_.empty();
}

void client_machine::event_connected() {
    if (!events_for_me()) {
        return;
    }
    announced_ = true;
    boost::json::object o;
    o["clientId"] = client_id_;
    if (auth_ && auth_->thing) {
        o["thingName"] = auth_->thing->name;
    }
    o["timestamp"] = epoch_ms();
    o["eventType"] = "connected";
    o["sessionIdentifier"] = session_identifier_;
    o["principalIdentifier"] = info_.certificate ? info_.certificate->id : std::string();
    o["ipAddress"] = source_ip(info_.remote_address);
    o["versionNumber"] = ++b_.event_version;
    b_.publish_event("$aws/events/presence/connected/" + client_id_, boost::json::serialize(o));
}

void client_machine::event_disconnected() {
    if (!announced_) {
        return;
    }
    announced_ = false;
    boost::json::object o;
    o["clientId"] = client_id_;
    if (auth_ && auth_->thing) {
        o["thingName"] = auth_->thing->name;
    }
    o["timestamp"] = epoch_ms();
    o["eventType"] = "disconnected";
    o["clientInitiatedDisconnect"] = client_initiated_;
    o["sessionIdentifier"] = session_identifier_;
    o["principalIdentifier"] = info_.certificate ? info_.certificate->id : std::string();
    o["disconnectReason"] = disconnect_reason_;
    o["versionNumber"] = ++b_.event_version;
    b_.publish_event("$aws/events/presence/disconnected/" + client_id_, boost::json::serialize(o));
}

void client_machine::event_connect_failed(std::string_view reason) {
    if (!events_for_me()) {
        return;
    }
    boost::json::object o;
    o["clientId"] = client_id_;
    o["timestamp"] = epoch_ms();
    o["eventType"] = "connect_failed";
    o["connectFailureReason"] = reason;
    o["principalIdentifier"] = info_.certificate ? info_.certificate->id : std::string();
    o["ipAddress"] = source_ip(info_.remote_address);
    b_.publish_event("$aws/events/presence/connect_failed/" + client_id_, boost::json::serialize(o));
}

void client_machine::event_subscriptions(bool subscribed, const std::vector<std::string>& topics) {
    if (!announced_ || topics.empty()) {
        return;
    }
    boost::json::object o;
    o["clientId"] = client_id_;
    o["timestamp"] = epoch_ms();
    o["eventType"] = subscribed ? "subscribed" : "unsubscribed";
    o["sessionIdentifier"] = session_identifier_;
    o["principalIdentifier"] = info_.certificate ? info_.certificate->id : std::string();
    boost::json::array list;
    for (const auto& t : topics) {
        list.emplace_back(t);
    }
    o["topics"] = std::move(list);
    b_.publish_event(std::string(subscribed ? "$aws/events/subscriptions/subscribed/"
                                            : "$aws/events/subscriptions/unsubscribed/") +
                             client_id_,
                     boost::json::serialize(o));
}

} // namespace thinggate::broker

#pragma once
// policy/resource: the data-plane actions and the resource ARNs the broker checks them against
// (GATEWAY-SEMANTICS §1 table): client/<id>, topic/<topic>, topicfilter/<filter as sent>.
// Thread safety: resource_names is a value; an arn_builder is owned by one connection (not
// thread-safe); the free functions are safe from any thread.

#include <cstdint>
#include <string>
#include <string_view>

namespace thinggate::policy {

/// The five data-plane actions the broker checks.
enum class action : std::uint8_t {
    connect,        ///< iot:Connect, resource client/<clientId>
    publish,        ///< iot:Publish, resource topic/<topic>
    retain_publish, ///< iot:RetainPublish, resource topic/<topic>
    subscribe,      ///< iot:Subscribe, resource topicfilter/<filter>
    receive,        ///< iot:Receive, resource topic/<topic>
};

inline constexpr std::size_t data_plane_action_count = 5;

/// "iot:Connect", "iot:Publish", ...
std::string_view action_name(action a) noexcept;

/// Region and account of the ARNs (config values; AWS's partition "aws" is fixed).
struct resource_names {
    std::string region = "local";
    std::string account = "000000000000";
};

/// "arn:aws:iot:<region>:<account>:<type>/<name>".
std::string make_arn(const resource_names& names, std::string_view type, std::string_view name);
std::string client_arn(const resource_names& names, std::string_view client_id);
std::string topic_arn(const resource_names& names, std::string_view topic);
std::string topic_filter_arn(const resource_names& names, std::string_view filter);

/// Builds a connection's resource ARNs in one reused buffer: after the first few calls no
/// allocation. The returned view is valid until the next call.
class arn_builder {
public:
    explicit arn_builder(const resource_names& names);

    std::string_view client(std::string_view client_id);
    std::string_view topic(std::string_view topic);
    std::string_view topic_filter(std::string_view filter);

    /// The resource for `a` on `name` (client id, topic or filter according to the action).
    std::string_view for_action(action a, std::string_view name);

private:
    std::string_view build(std::string_view type, std::string_view name);

    std::string buf_;
    std::size_t prefix_size_ = 0; ///< "arn:aws:iot:<region>:<account>:"
};

/// False when `client_id` contains '+' or '#': substituted into topicfilter/... resources by
/// ${iot:ClientId} it would read as an MQTT wildcard once granted (GATEWAY-SEMANTICS §1 pitfall).
/// The broker refuses such client ids at CONNECT unless configured otherwise.
bool client_id_safe_for_policies(std::string_view client_id) noexcept;

} // namespace thinggate::policy

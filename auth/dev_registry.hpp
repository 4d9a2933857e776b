#pragma once
// auth/dev_registry: the development PKI (auth/pki.hpp ensure_dev_pki) as registry entries, so
// that a fresh gateway with [dev].pki accepts its demo device: the dev CA (ACTIVE), the device
// certificate (ACTIVE), the thing, and the policy "<thing>-policy" attached to the certificate.
// Owns: the development default. Must not use: Asio.
// Thread safety: as registry::update (not from a shard).

#include <string>
#include <string_view>

#include "auth/pki.hpp"
#include "auth/registry.hpp"

namespace thinggate::auth {

/// The policy document of the development device: iot:Connect on
/// client/${iot:Connection.Thing.ThingName}; iot:Publish and iot:Receive on
/// topic/things/${iot:Connection.Thing.ThingName}/* and topic/$aws/things/<same>/*; iot:Subscribe
/// on the matching topicfilter/ resources.
std::string dev_policy_document();

struct dev_registry_result {
    std::string ca_id;
    std::string certificate_id;
    std::string thing;
    std::string policy;
    bool changed = false; ///< false when everything was registered already
};

/// Registers what is missing of the development entries, in one transaction. Idempotent, and
/// it never undoes an operator's change: an entry that exists is left as it is (a deactivated
/// certificate stays inactive), and the attachments are made only in the call that registers
/// the device certificate. Errors name the file or entry.
registry_result<dev_registry_result>
ensure_dev_registry(registry& reg, const dev_pki& pki, std::string_view thing_name);

} // namespace thinggate::auth

#include "auth/dev_registry.hpp"

#include <fstream>
#include <iterator>

#include "auth/certificate_fields.hpp"

namespace thinggate::auth {

namespace {

registry_result<std::string> read_pem(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_registry_error(
                registry_errc::invalid_request, "development PKI: cannot read " + path.string());
    }
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// The id of the PEM certificate, with the file named on failure.
registry_result<std::string> id_of(const std::string& pem, const std::filesystem::path& path) {
    auto cert = parse_certificate_pem(pem);
    if (!cert) {
        return make_registry_error(
                registry_errc::certificate_invalid,
                "development PKI: " + path.string() + ": " + cert.error().message);
    }
    return certificate_id(**cert);
}

} // namespace

std::string dev_policy_document() {
    return R"({
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ConnectAsThing",
      "Effect": "Allow",
      "Action": "iot:Connect",
      "Resource": [
        "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}",
        "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}-*"
      ]
    },
    {
      "Sid": "PublishReceiveOwnTopics",
      "Effect": "Allow",
      "Action": ["iot:Publish", "iot:Receive"],
      "Resource": [
        "arn:aws:iot:*:*:topic/things/${iot:Connection.Thing.ThingName}/*",
        "arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/*"
      ]
    },
    {
      "Sid": "SubscribeOwnTopics",
      "Effect": "Allow",
      "Action": "iot:Subscribe",
      "Resource": [
        "arn:aws:iot:*:*:topicfilter/things/${iot:Connection.Thing.ThingName}/*",
        "arn:aws:iot:*:*:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/*"
      ]
    }
  ]
})";
}

registry_result<dev_registry_result>
ensure_dev_registry(registry& reg, const dev_pki& pki, std::string_view thing_name) {
    auto ca_pem = read_pem(pki.ca_cert);
    if (!ca_pem) {
        return ca_pem.error();
    }
    auto device_pem = read_pem(pki.device_cert);
    if (!device_pem) {
        return device_pem.error();
    }
    auto ca_id = id_of(*ca_pem, pki.ca_cert);
    if (!ca_id) {
        return ca_id.error();
    }
    auto device_id = id_of(*device_pem, pki.device_cert);
    if (!device_id) {
        return device_id.error();
    }
    dev_registry_result out;
    out.ca_id = *ca_id;
    out.certificate_id = *device_id;
    out.thing = std::string(thing_name);
    out.policy = std::string(thing_name) + "-policy";
    return reg.update([&](registry_txn& txn) -> registry_result<dev_registry_result> {
        const auto& s = txn.state();
        if (s.cas.count(out.ca_id) == 0) {
            if (auto r = txn.register_ca(*ca_pem, ca_status::active, false, ""); !r) {
                return r.error();
            }
            out.changed = true;
        }
        if (s.things.count(out.thing) == 0) {
            if (auto r = txn.create_thing(out.thing, "", {}); !r) {
                return r.error();
            }
            out.changed = true;
        }
        if (s.policies.count(out.policy) == 0) {
            if (auto r = txn.create_policy(out.policy, dev_policy_document()); !r) {
                return r.error();
            }
            out.changed = true;
        }
        if (s.certificates.count(out.certificate_id) == 0) {
            if (auto r = txn.register_certificate(*device_pem, certificate_status::active); !r) {
                return r.error();
            }
            if (auto r = txn.attach_policy_to_certificate(out.policy, out.certificate_id); !r) {
                return r.error();
            }
            if (auto r = txn.attach_thing_principal(out.thing, out.certificate_id, true); !r) {
                return r.error();
            }
            out.changed = true;
        }
        return out;
    });
}

} // namespace thinggate::auth

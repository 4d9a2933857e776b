#include "persist/records.hpp"

namespace thinggate::persist {

std::string_view to_string(durability d) noexcept {
    switch (d) {
    case durability::none:
        return "none";
    case durability::wal:
        return "wal";
    case durability::fsync:
        return "fsync";
    }
    return "unknown";
}

bool parse_durability(std::string_view text, durability& out) noexcept {
    for (auto d : {durability::none, durability::wal, durability::fsync}) {
        if (text == to_string(d)) {
            out = d;
            return true;
        }
    }
    return false;
}

std::string_view to_string(family f) noexcept {
    switch (f) {
    case family::sessions:
        return "sessions";
    case family::subscriptions:
        return "subscriptions";
    case family::queued:
        return "messages";
    case family::inflight:
        return "inflight";
    case family::qos2_in:
        return "qos2_in";
    case family::retained:
        return "retained";
    case family::registry:
        return "registry";
    case family::jobs:
        return "jobs";
    case family::streams:
        return "streams";
    case family::blobs:
        return "blobs";
    case family::meta:
        return "meta";
    }
    return "unknown";
}

std::optional<family> kind_family(blob_kind k) noexcept {
    switch (k) {
    case blob_kind::thing:
    case blob_kind::thing_group:
    case blob_kind::certificate:
    case blob_kind::ca_certificate:
    case blob_kind::policy:
    case blob_kind::policy_version:
    case blob_kind::attachment:
    case blob_kind::thing_type:
    case blob_kind::operator_account:
        return family::registry;
    case blob_kind::job:
    case blob_kind::job_execution:
        return family::jobs;
    case blob_kind::stream:
        return family::streams;
    case blob_kind::firmware_file:
        return family::blobs;
    }
    return std::nullopt;
}

} // namespace thinggate::persist

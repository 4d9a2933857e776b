#include "auth/registry_error.hpp"

#include <stdexcept>

namespace thinggate::auth {

namespace {

class registry_error_category final : public boost::system::error_category {
public:
    constexpr registry_error_category() noexcept
        : boost::system::error_category(0x7467'7265'6769'0001ULL) {}

    const char* name() const noexcept override { return "registry"; }

    std::string message(int ev) const override {
        switch (static_cast<registry_errc>(ev)) {
        case registry_errc::ok:
            return "success";
        case registry_errc::not_found:
            return "no such registry entry";
        case registry_errc::already_exists:
            return "the registry entry exists already";
        case registry_errc::delete_conflict:
            return "the entry is active or still referenced";
        case registry_errc::invalid_request:
            return "invalid registry request";
        case registry_errc::limit_exceeded:
            return "a registry limit would be exceeded";
        case registry_errc::versions_limit:
            return "the policy has the maximum number of versions";
        case registry_errc::malformed_policy:
            return "the policy document is not valid";
        case registry_errc::certificate_invalid:
            return "the certificate is not valid";
        case registry_errc::certificate_state:
            return "the certificate's status does not allow this";
        case registry_errc::conflicting_update:
            return "the change conflicts with an exclusive attachment";
        case registry_errc::storage:
            return "the registry could not be written";
        case registry_errc::corrupt:
            return "a stored registry record is corrupt";
        }
        return "unknown registry error";
    }
};

constexpr registry_error_category category_instance;

} // namespace

const boost::system::error_category& registry_category() noexcept {
    return category_instance;
}

std::string_view aws_error_name(registry_errc e) noexcept {
    switch (e) {
    case registry_errc::ok:
        return "";
    case registry_errc::not_found:
        return "ResourceNotFoundException";
    case registry_errc::already_exists:
        return "ResourceAlreadyExistsException";
    case registry_errc::delete_conflict:
        return "DeleteConflictException";
    case registry_errc::invalid_request:
        return "InvalidRequestException";
    case registry_errc::limit_exceeded:
        return "LimitExceededException";
    case registry_errc::versions_limit:
        return "VersionsLimitExceededException";
    case registry_errc::malformed_policy:
        return "MalformedPolicyException";
    case registry_errc::certificate_invalid:
        return "CertificateValidationException";
    case registry_errc::certificate_state:
        return "CertificateStateException";
    case registry_errc::conflicting_update:
        return "ConflictingResourceUpdateException";
    case registry_errc::storage:
    case registry_errc::corrupt:
        return "InternalFailureException";
    }
    return "InternalFailureException";
}

void throw_exception_from_error(const registry_error& e, const boost::source_location&) {
    throw std::runtime_error(e.message);
}

} // namespace thinggate::auth

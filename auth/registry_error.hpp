#pragma once
// auth/registry_error: the identity registry's error codes (with the AWS IoT exception each one
// is reported as by the control plane) and the error value every registry operation returns: a
// code plus a sentence that names the entry and the field.
// Thread safety: immutable values.

#include <string>
#include <string_view>
#include <type_traits>

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace thinggate::auth {

enum class registry_errc {
    ok = 0,
    not_found = 1,       ///< ResourceNotFoundException
    already_exists,      ///< ResourceAlreadyExistsException
    delete_conflict,     ///< DeleteConflictException (ACTIVE or attached, still referenced)
    invalid_request,     ///< InvalidRequestException (bad name, bad value, wrong state)
    limit_exceeded,      ///< LimitExceededException (10 policies per certificate, ...)
    versions_limit,      ///< VersionsLimitExceededException (5 versions per policy)
    malformed_policy,    ///< MalformedPolicyException (the document failed validation)
    certificate_invalid, ///< CertificateValidationException (PEM, CA, signature)
    certificate_state,   ///< CertificateStateException (REVOKED is final, ...)
    conflicting_update,  ///< ConflictingResourceUpdateException (exclusive attachment)
    storage,             ///< the store refused the write (disk full, I/O error, closed)
    corrupt,             ///< a stored registry record failed strict decoding
};

/// The boost::system category of registry_errc ("registry").
const boost::system::error_category& registry_category() noexcept;

inline boost::system::error_code make_error_code(registry_errc e) noexcept {
    return {static_cast<int>(e), registry_category()};
}

/// The AWS IoT exception name for a registry error ("ResourceNotFoundException", ...);
/// "InternalFailureException" for storage and corrupt.
std::string_view aws_error_name(registry_errc e) noexcept;

/// What went wrong, for an operator: `message` names the entry and the field, e.g.
/// `certificate 3f2a...: status REVOKED is final, cannot change it to ACTIVE`.
struct registry_error {
    boost::system::error_code code;
    std::string message;
};

/// Lets result<T, registry_error>::value() throw std::runtime_error(message) (CLI, start-up).
[[noreturn]] void
throw_exception_from_error(const registry_error& e, const boost::source_location& where);

template <typename T = void>
using registry_result = boost::system::result<T, registry_error>;

/// Shorthand for building an error.
inline registry_error make_registry_error(registry_errc e, std::string message) {
    return {make_error_code(e), std::move(message)};
}

} // namespace thinggate::auth

template <>
struct boost::system::is_error_code_enum<thinggate::auth::registry_errc> : std::true_type {};

#pragma once
// policy/condition: evaluation of one Condition entry against a condition key's values. Every key
// the gateway knows is fixed for a connection, so conditions are decided once, at compile time.
// Thread safety: pure functions; safe from any thread.

#include <string>
#include <string_view>

#include "policy/context.hpp"
#include "policy/document.hpp"
#include "policy/substitute.hpp"

namespace thinggate::policy {

/// True when condition `c` holds for key values `key`; the condition's values are substituted
/// through `subst`. Semantics (IAM's): a positive operator holds when a key value matches one of
/// the values; a negated one (StringNotEquals, NotIpAddress, ...) when it matches none. An absent
/// key: ...IfExists holds; otherwise negated operators hold and positive ones do not.
/// ForAnyValue: some key value satisfies the operator (false for an absent or empty key);
/// ForAllValues: every key value does (true for an absent or empty key). A value whose variable is
/// unresolved matches no key value.
bool condition_holds(const condition& c, const key_values& key, substituter& subst);

/// Parses an IPv4 or IPv6 address or CIDR block and tells whether `address` lies in it.
bool ip_in_cidr(std::string_view address, std::string_view cidr) noexcept;

} // namespace thinggate::policy

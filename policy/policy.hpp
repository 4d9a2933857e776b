#pragma once
// policy/policy: the policy engine — parse and validate documents, compile them once per
// connection with its variables, evaluate (allowed / explicit deny / implicit deny), explain.
// Owns: the policy language (GATEWAY-SEMANTICS §1). Must not use: sockets, threads, clocks,
// broker/ or transport/ (may use core and mqtt only). Pure: testable without I/O.
// Thread safety: documents and compiled sets are immutable values, safe to share for reading;
// arn_builder and decision_cache belong to one connection.

#include "policy/compiled.hpp"       // IWYU pragma: export
#include "policy/context.hpp"        // IWYU pragma: export
#include "policy/decision_cache.hpp" // IWYU pragma: export
#include "policy/document.hpp"       // IWYU pragma: export
#include "policy/resource.hpp"       // IWYU pragma: export

#include "auth/openssl_ptr.hpp"

#include <array>

#include <openssl/err.h>

namespace thinggate::auth {

std::string openssl_error_text() {
    std::string text;
    while (unsigned long code = ERR_get_error()) {
        std::array<char, 256> buffer{};
        ERR_error_string_n(code, buffer.data(), buffer.size());
        if (!text.empty()) {
            text += "; ";
        }
        text += buffer.data();
    }
    if (text.empty()) {
        text = "no OpenSSL error reported";
    }
    return text;
}

} // namespace thinggate::auth

#include "persist/store.hpp"

#include "persist/record_codec.hpp"

namespace thinggate::persist {

namespace {

/// Scans `fam` and decodes every value into a Record for `on`; the first record that fails to
/// decode stops the scan with errc::corrupt.
template <class Record, class On>
boost::system::error_code scan_decoded(const store& s, family fam, On&& on) {
    boost::system::error_code decode_error;
    auto ec = s.scan(fam, {}, [&](std::string_view key, std::string_view value) {
        Record r;
        decode_error = codec::decode(key, value, r);
        if (decode_error) {
            return false;
        }
        on(std::move(r));
        return true;
    });
    return ec ? ec : decode_error;
}

} // namespace

boost::system::error_code store::load_all(visitor& v) const {
    boost::system::error_code ec;
    auto step = [&](auto result) {
        if (!ec) {
            ec = result;
        }
    };
    step(scan_decoded<session_record>(
            *this, family::sessions, [&](session_record&& r) { v.on_session(std::move(r)); }));
    if (!ec) {
        step(scan_decoded<subscription_record>(
                *this, family::subscriptions, [&](auto&& r) { v.on_subscription(std::move(r)); }));
    }
    if (!ec) {
        step(scan_decoded<queued_record>(
                *this, family::queued, [&](auto&& r) { v.on_queued(std::move(r)); }));
    }
    if (!ec) {
        step(scan_decoded<inflight_record>(
                *this, family::inflight, [&](auto&& r) { v.on_inflight(std::move(r)); }));
    }
    if (!ec) {
        step(scan_decoded<qos2_in_record>(
                *this, family::qos2_in, [&](auto&& r) { v.on_qos2_in(std::move(r)); }));
    }
    if (!ec) {
        step(scan_decoded<message_record>(
                *this, family::retained, [&](auto&& r) { v.on_retained(std::move(r)); }));
    }
    for (auto fam : {family::registry, family::jobs, family::streams}) {
        if (!ec) {
            step(scan_decoded<blob_record>(*this, fam, [&](auto&& r) { v.on_blob(std::move(r)); }));
        }
    }
    return ec;
}

boost::system::result<std::optional<session_record>>
store::get_session(std::string_view client_id) const {
    auto key = codec::session_key(client_id);
    auto value = get(family::sessions, key);
    if (!value) {
        return value.error();
    }
    if (!*value) {
        return std::optional<session_record>{};
    }
    session_record r;
    if (auto ec = codec::decode(key, **value, r)) {
        return ec;
    }
    return std::optional<session_record>{std::move(r)};
}

boost::system::result<std::optional<blob_record>>
store::get_blob(blob_kind kind, std::string_view name) const {
    auto fam = kind_family(kind);
    if (!fam) {
        return make_error_code(errc::invalid_argument);
    }
    auto key = codec::blob_key(kind, name);
    auto value = get(*fam, key);
    if (!value) {
        return value.error();
    }
    if (!*value) {
        return std::optional<blob_record>{};
    }
    return std::optional<blob_record>{blob_record{kind, std::string(name), std::move(**value)}};
}

boost::system::error_code
store::for_each_blob(blob_kind kind, const std::function<bool(blob_record&&)>& fn) const {
    auto fam = kind_family(kind);
    if (!fam) {
        return make_error_code(errc::invalid_argument);
    }
    boost::system::error_code decode_error;
    auto ec = scan(*fam, codec::blob_kind_prefix(kind), [&](auto key, auto value) {
        blob_record r;
        decode_error = codec::decode(key, value, r);
        return !decode_error && fn(std::move(r));
    });
    return ec ? ec : decode_error;
}

} // namespace thinggate::persist

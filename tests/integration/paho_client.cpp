#include "paho_client.hpp"

#include <doctest/doctest.h>

namespace thinggate::integration {

std::string endpoint::name() const {
    return std::string(version == MQTTVERSION_5 ? "v5" : "v3.1.1") + "/" +
           (transport == transport_kind::tls ? "tls" : "tcp");
}

std::vector<endpoint> all_endpoints() {
    return {
            {MQTTVERSION_3_1_1, transport_kind::tcp},
            {MQTTVERSION_5, transport_kind::tcp},
            {MQTTVERSION_3_1_1, transport_kind::tls},
            {MQTTVERSION_5, transport_kind::tls},
    };
}

std::string uri_for(const gateway& d, transport_kind t, const std::string& host) {
    if (t == transport_kind::tls) {
        return "ssl://" + host + ":" + std::to_string(d.tls_port());
    }
    return "tcp://127.0.0.1:" + std::to_string(d.tcp_port());
}

paho_client::paho_client(const gateway& d, client_options options)
    : options_(std::move(options)) {
    client_ = std::make_unique<mqtt::async_client>(
            options_.uri.empty() ? uri_for(d, options_.ep.transport, options_.host) : options_.uri,
            options_.client_id,
            mqtt::create_options(options_.ep.version),
            nullptr);
    client_->set_message_callback([this](mqtt::const_message_ptr m) {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(m));
        ++received_;
        cv_.notify_all();
    });
    client_->set_connection_lost_handler([this](const std::string&) {
        std::lock_guard lock(mutex_);
        lost_ = true;
        cv_.notify_all();
    });
    client_->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode rc) {
        std::lock_guard lock(mutex_);
        lost_ = true;
        disconnect_reason_ = static_cast<int>(rc);
        cv_.notify_all();
    });
}

paho_client::~paho_client() {
    try {
        if (client_->is_connected()) {
            client_->disconnect()->wait_for(step_timeout);
        }
    } catch (const mqtt::exception&) {
        // Already gone; nothing to clean up.
    }
}

mqtt::token_ptr paho_client::start_connect() {
    mqtt::connect_options_builder b;
    b.mqtt_version(options_.ep.version);
    if (options_.ep.version == MQTTVERSION_5) {
        b.clean_start(options_.clean);
        mqtt::properties props;
        if (options_.session_expiry) {
            props.add(
                    {mqtt::property::SESSION_EXPIRY_INTERVAL,
                     static_cast<int32_t>(*options_.session_expiry)});
        }
        if (options_.receive_maximum) {
            props.add({mqtt::property::RECEIVE_MAXIMUM, *options_.receive_maximum});
        }
        b.properties(props);
    } else {
        b.clean_session(options_.clean);
    }
    b.keep_alive_interval(std::chrono::seconds(options_.keep_alive));
    b.connect_timeout(std::chrono::seconds(10));
    b.automatic_reconnect(false);
    if (options_.will) {
        b.will(*options_.will);
    }
    if (options_.ep.transport == transport_kind::tls) {
        const auto& pki = test_pki::shared();
        mqtt::ssl_options_builder ssl;
        ssl.trust_store(pki.ca.string());
        ssl.enable_server_cert_auth(true);
        ssl.verify(true);
        if (!options_.no_client_cert) {
            const cert_files& c = options_.cert ? *options_.cert : pki.client(options_.cert_index);
            ssl.key_store(c.cert.string());
            ssl.private_key(c.key.string());
        }
        b.ssl(ssl.finalize());
    }
    return client_->connect(b.finalize());
}

std::string paho_client::try_connect() {
    try {
        auto tok = start_connect();
        if (!tok->wait_for(step_timeout)) {
            return "connect timed out";
        }
        session_present_ = tok->get_connect_response().is_session_present();
        return {};
    } catch (const mqtt::exception& e) {
        return std::string("connect failed: ") + e.what();
    }
}

bool paho_client::finish_connect(const mqtt::token_ptr& tok) {
    try {
        REQUIRE_MESSAGE(
                tok->wait_for(step_timeout),
                options_.client_id,
                " (",
                options_.ep.name(),
                "): connect timed out");
        session_present_ = tok->get_connect_response().is_session_present();
    } catch (const mqtt::exception& e) {
        FAIL(options_.client_id, " (", options_.ep.name(), "): connect failed: ", e.what());
    }
    return session_present_;
}

void connect_all(std::initializer_list<paho_client*> clients) {
    std::vector<mqtt::token_ptr> tokens;
    for (auto* c : clients) {
        tokens.push_back(c->start_connect());
    }
    auto tok = tokens.begin();
    for (auto* c : clients) {
        c->finish_connect(*tok++);
    }
}

bool paho_client::connect() {
    const std::string error = try_connect();
    REQUIRE_MESSAGE(error.empty(), options_.client_id, " (", options_.ep.name(), "): ", error);
    return session_present_;
}

std::vector<mqtt::ReasonCode> paho_client::subscribe(const std::string& filter, int qos) {
    auto tok = client_->subscribe(filter, qos);
    REQUIRE_MESSAGE(tok->wait_for(step_timeout), "SUBACK for ", filter, " did not arrive");
    return tok->get_subscribe_response().get_reason_codes();
}

void paho_client::publish(
        const std::string& topic,
        const std::string& payload,
        int qos,
        bool retain,
        const mqtt::properties& props) {
    auto msg = mqtt::make_message(topic, payload, qos, retain);
    msg->set_properties(props);
    publish(std::move(msg));
}

void paho_client::publish(mqtt::message_ptr msg) {
    auto tok = client_->publish(std::move(msg));
    REQUIRE_MESSAGE(tok->wait_for(step_timeout), "publish did not complete in time");
}

void paho_client::disconnect() {
    auto tok = client_->disconnect();
    REQUIRE_MESSAGE(tok->wait_for(step_timeout), "disconnect did not complete in time");
}

mqtt::const_message_ptr paho_client::next_message(milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!wait_until(
                lock, cv_, [&] { return !queue_.empty(); }, clock::now() + timeout)) {
        return nullptr;
    }
    auto m = std::move(queue_.front());
    queue_.pop_front();
    return m;
}

std::vector<mqtt::const_message_ptr> paho_client::messages(std::size_t n, milliseconds timeout) {
    std::vector<mqtt::const_message_ptr> out;
    const auto deadline = clock::now() + timeout;
    while (out.size() < n) {
        auto m = next_message(std::chrono::duration_cast<milliseconds>(deadline - clock::now()));
        REQUIRE_MESSAGE(
                m != nullptr,
                options_.client_id,
                " received ",
                out.size(),
                " of ",
                n,
                " messages in time");
        out.push_back(std::move(m));
    }
    return out;
}

std::size_t paho_client::received_count() const {
    std::lock_guard lock(mutex_);
    return received_;
}

bool paho_client::wait_received(std::size_t n, milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return wait_until(
            lock, cv_, [&] { return received_ >= n; }, clock::now() + timeout);
}

bool paho_client::wait_disconnected(milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return wait_until(
            lock, cv_, [&] { return lost_; }, clock::now() + timeout);
}

std::optional<int> paho_client::server_disconnect_reason() const {
    std::lock_guard lock(mutex_);
    return disconnect_reason_;
}

} // namespace thinggate::integration

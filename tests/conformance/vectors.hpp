#pragma once
// tests/conformance/vectors: parser for the conformance vector files (*.vec). The format is
// documented in tests/conformance/README.md. Header-only so that the unit runner, the live runner
// and tools can use it without a CMake target. Uses: std only.
// Thread safety: free functions over caller-owned values.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace thinggate::conformance {

enum class op {
    client,       ///< client NAME [v311|v5]
    send,         ///< send NAME BYTES...
    expect,       ///< expect NAME BYTES...         (the exact bytes of the next packet)
    expect_prefix,///< expect-prefix NAME BYTES...  (the next packet starts with these bytes)
    expect_type,  ///< expect-type NAME TYPE [key=value...]
    expect_none,  ///< expect-none NAME
    expect_close, ///< expect-close NAME
    drop,         ///< drop NAME
    advance,      ///< advance SECONDS              (machine only)
    limit,        ///< limit KEY VALUE              (machine only, before the first client)
};

struct check {
    std::string key;
    std::string value;
};

struct step {
    op kind = op::send;
    int line = 0;
    std::string name;           ///< client name (or limit key)
    std::string bytes;          ///< send / expect / expect-prefix
    std::string arg;            ///< client: "v311" or "v5"; expect-type: packet type; limit: value
    std::vector<check> checks;  ///< expect-type key=value checks
    std::uint64_t millis = 0;   ///< advance
};

struct vector_test {
    std::string file;  ///< file name without directory, e.g. "connect.vec"
    std::string title; ///< everything after "test ", e.g. "[MQTT-3.1.0-1] first packet must be CONNECT"
    int line = 0;
    std::vector<step> steps;

    /// Uses the manual clock or broker limits: runs only against the protocol machine.
    bool machine_only() const {
        return std::any_of(steps.begin(), steps.end(),
                [](const step& s) { return s.kind == op::advance || s.kind == op::limit; });
    }
    /// "connect.vec: [MQTT-3.1.0-1] first packet must be CONNECT" — the key of known_failures.txt.
    std::string id() const { return file + ": " + title; }
};

struct parse_error {
    std::string file;
    int line = 0;
    std::string message;
};

namespace detail {

/// Splits a line into tokens: whitespace separates, "double quoted" tokens keep spaces and '#',
/// '#' outside quotes starts a comment. Quoted tokens keep their quotes so the caller can tell.
inline bool tokenize(std::string_view line, std::vector<std::string>& out, std::string& error) {
    out.clear();
    std::size_t i = 0;
    while (i < line.size()) {
        const char c = line[i];
        if (c == ' ' || c == '\t' || c == '\r') {
            ++i;
            continue;
        }
        if (c == '#') {
            break;
        }
        std::string tok;
        if (c == '"') {
            tok.push_back('"');
            ++i;
            bool closed = false;
            while (i < line.size()) {
                char d = line[i++];
                if (d == '\\' && i < line.size()) {
                    d = line[i++];
                    tok.push_back(d);
                    continue;
                }
                if (d == '"') {
                    closed = true;
                    break;
                }
                tok.push_back(d);
            }
            if (!closed) {
                error = "unterminated string";
                return false;
            }
            tok.push_back('"');
        } else {
            while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '#') {
                tok.push_back(line[i++]);
            }
        }
        out.push_back(std::move(tok));
    }
    return true;
}

inline int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/// A byte token: an even number of hex digits ("c0", "c000") or a "quoted string" (its bytes).
inline bool is_byte_token(const std::string& t) {
    if (t.size() >= 2 && t.front() == '"' && t.back() == '"') {
        return true;
    }
    if (t.empty() || t.size() % 2 != 0) {
        return false;
    }
    return std::all_of(t.begin(), t.end(), [](char c) { return hex_value(c) >= 0; });
}

inline void append_bytes(const std::string& t, std::string& out) {
    if (t.front() == '"') {
        out.append(t, 1, t.size() - 2);
        return;
    }
    for (std::size_t i = 0; i < t.size(); i += 2) {
        out.push_back(static_cast<char>(hex_value(t[i]) * 16 + hex_value(t[i + 1])));
    }
}

inline bool parse_millis(const std::string& s, std::uint64_t& out) {
    // Seconds with up to three decimals: "90", "1.5", "0.001".
    std::uint64_t whole = 0;
    const auto dot = s.find('.');
    const std::string w = s.substr(0, dot);
    auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), whole);
    if (ec != std::errc{} || p != w.data() + w.size() || w.empty()) {
        return false;
    }
    std::uint64_t frac = 0;
    if (dot != std::string::npos) {
        std::string f = s.substr(dot + 1);
        if (f.empty() || f.size() > 3 || !std::all_of(f.begin(), f.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return false;
        }
        f.resize(3, '0');
        frac = std::stoull(f);
    }
    out = whole * 1000 + frac;
    return true;
}

} // namespace detail

inline const std::set<std::string, std::less<>>& known_packet_types() {
    static const std::set<std::string, std::less<>> types = {"connect", "connack", "publish", "puback",
            "pubrec", "pubrel", "pubcomp", "subscribe", "suback", "unsubscribe", "unsuback", "pingreq",
            "pingresp", "disconnect", "auth"};
    return types;
}

/// Parses one vector file. Problems are appended to `errors`; tests with a problem are dropped
/// from the result (and the error names them), so a broken vector is never silently skipped.
inline std::vector<vector_test> parse_vectors(std::string_view text, const std::string& file,
                                               std::vector<parse_error>& errors) {
    std::vector<vector_test> tests;
    std::vector<std::string> tok;
    std::string error;
    bool in_test = false;
    bool bad = false;
    bool client_seen = false;
    vector_test cur;
    std::set<std::string> names;
    std::set<std::string> titles;
    int line_no = 0;
    std::size_t pos = 0;
    const auto fail = [&](const std::string& msg) {
        errors.push_back({file, line_no, msg});
        bad = true;
    };
    while (pos <= text.size()) {
        const auto nl = text.find('\n', pos);
        const std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        ++line_no;
        if (!detail::tokenize(line, tok, error)) {
            fail(error);
            continue;
        }
        if (tok.empty()) {
            continue;
        }
        const std::string& cmd = tok[0];
        if (cmd == "test") {
            if (in_test) {
                fail("'test' inside a test (missing 'end' for the test at line " + std::to_string(cur.line) + ")");
            }
            cur = vector_test{};
            cur.file = file;
            cur.line = line_no;
            const auto at = line.find("test") + 4;
            std::string title(line.substr(at));
            title.erase(0, title.find_first_not_of(" \t"));
            title.erase(title.find_last_not_of(" \t\r") + 1);
            cur.title = title;
            in_test = true;
            bad = false;
            client_seen = false;
            names.clear();
            if (cur.title.empty()) {
                fail("test without a title");
            } else if (!titles.insert(cur.title).second) {
                fail("duplicate test title '" + cur.title + "'");
            }
            continue;
        }
        if (!in_test) {
            fail("'" + cmd + "' outside a test");
            continue;
        }
        if (cmd == "end") {
            if (cur.steps.empty()) {
                fail("empty test");
            }
            if (!bad) {
                tests.push_back(std::move(cur));
            }
            in_test = false;
            continue;
        }
        // Continuation of the previous byte command.
        if (detail::is_byte_token(cmd)) {
            if (cur.steps.empty() || (cur.steps.back().kind != op::send && cur.steps.back().kind != op::expect &&
                                      cur.steps.back().kind != op::expect_prefix)) {
                fail("bytes without a send/expect before them");
                continue;
            }
            for (const auto& t : tok) {
                if (!detail::is_byte_token(t)) {
                    fail("not a byte token: '" + t + "'");
                    break;
                }
                detail::append_bytes(t, cur.steps.back().bytes);
            }
            continue;
        }
        step s;
        s.line = line_no;
        const auto need_client = [&](std::size_t min_tokens) {
            if (tok.size() < min_tokens) {
                fail("'" + cmd + "' needs more arguments");
                return false;
            }
            if (!names.contains(tok[1])) {
                fail("unknown client '" + tok[1] + "'");
                return false;
            }
            s.name = tok[1];
            return true;
        };
        if (cmd == "client") {
            if (tok.size() < 2 || tok.size() > 3) {
                fail("usage: client NAME [v311|v5]");
                continue;
            }
            s.kind = op::client;
            s.name = tok[1];
            s.arg = tok.size() == 3 ? tok[2] : "v5";
            if (s.arg != "v5" && s.arg != "v311") {
                fail("client version must be v311 or v5");
                continue;
            }
            if (!names.insert(s.name).second) {
                fail("client '" + s.name + "' declared twice");
                continue;
            }
            client_seen = true;
        } else if (cmd == "send" || cmd == "expect" || cmd == "expect-prefix") {
            if (!need_client(2)) {
                continue;
            }
            s.kind = cmd == "send" ? op::send : cmd == "expect" ? op::expect : op::expect_prefix;
            bool ok = true;
            for (std::size_t i = 2; i < tok.size(); ++i) {
                if (!detail::is_byte_token(tok[i])) {
                    fail("not a byte token: '" + tok[i] + "'");
                    ok = false;
                    break;
                }
                detail::append_bytes(tok[i], s.bytes);
            }
            if (!ok) {
                continue;
            }
        } else if (cmd == "expect-type") {
            if (!need_client(3)) {
                continue;
            }
            s.kind = op::expect_type;
            s.arg = tok[2];
            if (!known_packet_types().contains(s.arg)) {
                fail("unknown packet type '" + s.arg + "'");
                continue;
            }
            for (std::size_t i = 3; i < tok.size(); ++i) {
                const auto eq = tok[i].find('=');
                if (eq == std::string::npos || eq == 0) {
                    fail("check must be key=value: '" + tok[i] + "'");
                    break;
                }
                std::string value = tok[i].substr(eq + 1);
                if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
                    value = value.substr(1, value.size() - 2);
                }
                s.checks.push_back({tok[i].substr(0, eq), value});
            }
        } else if (cmd == "expect-none" || cmd == "expect-close" || cmd == "drop") {
            if (!need_client(2) || tok.size() != 2) {
                if (tok.size() != 2) {
                    fail("usage: " + cmd + " NAME");
                }
                continue;
            }
            s.kind = cmd == "expect-none" ? op::expect_none : cmd == "expect-close" ? op::expect_close : op::drop;
        } else if (cmd == "advance") {
            s.kind = op::advance;
            if (tok.size() != 2 || !detail::parse_millis(tok[1], s.millis)) {
                fail("usage: advance SECONDS (e.g. 90 or 1.5)");
                continue;
            }
        } else if (cmd == "limit") {
            s.kind = op::limit;
            if (tok.size() != 3) {
                fail("usage: limit KEY VALUE");
                continue;
            }
            if (client_seen) {
                fail("'limit' must come before the first client");
                continue;
            }
            s.name = tok[1];
            s.arg = tok[2];
        } else {
            fail("unknown command '" + cmd + "'");
            continue;
        }
        cur.steps.push_back(std::move(s));
    }
    if (in_test) {
        errors.push_back({file, line_no, "missing 'end' for the test at line " + std::to_string(cur.line)});
    }
    return tests;
}

/// Every *.vec file in `dir`, in file-name order.
inline std::vector<vector_test> load_vector_dir(const std::filesystem::path& dir, std::vector<parse_error>& errors) {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.path().extension() == ".vec") {
            files.push_back(e.path());
        }
    }
    if (ec) {
        errors.push_back({dir.string(), 0, "cannot list directory: " + ec.message()});
    }
    std::sort(files.begin(), files.end());
    std::vector<vector_test> all;
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        auto tests = parse_vectors(ss.str(), f.filename().string(), errors);
        std::move(tests.begin(), tests.end(), std::back_inserter(all));
    }
    return all;
}

/// known_failures.txt: one "file.vec: title" per line (text after " -- " is a note); '#' comments.
/// Maps the id to its note.
inline std::map<std::string, std::string> load_known_failures(const std::filesystem::path& file) {
    std::map<std::string, std::string> out;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') {
            continue;
        }
        std::string note;
        const auto sep = line.find(" -- ");
        if (sep != std::string::npos) {
            note = line.substr(sep + 4);
            line.resize(sep);
        }
        line.erase(line.find_last_not_of(" \t") + 1);
        out.emplace(line.substr(first), note);
    }
    return out;
}

inline std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 3);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i != 0) {
            out.push_back(' ');
        }
        const auto b = static_cast<unsigned char>(bytes[i]);
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xF]);
    }
    return out;
}

} // namespace thinggate::conformance

// thinggatectl pki: certificates for operators (CA, server, device, code signing), the
// development PKI, and `show`. All the cryptography is in auth/pki; this file is the command line.

#include "auth/pki.hpp"

#include <array>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "tools/thinggatectl/command.hpp"
#include "tools/thinggatectl/options.hpp"

namespace thinggate::ctl {

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;
namespace pki = thinggate::auth;

constexpr int max_days = 36500;

// One parsed subcommand: its name (for messages) and its options.
pki::key_spec key_option(const parsed& p) {
    const auto& text = get<std::string>(p, "key");
    auto spec = pki::parse_key_spec(text);
    if (!spec) {
        throw usage_error(
                p.command,
                "invalid value '" + text +
                        "' for --key (expected ec-p256, ec-p384, rsa-2048 or rsa-3072)");
    }
    return *spec;
}

int days_option(const parsed& p) {
    const int days = get<int>(p, "days");
    if (days < 1 || days > max_days) {
        throw usage_error(
                p.command,
                "invalid value '" + std::to_string(days) + "' for --days (expected 1.." +
                        std::to_string(max_days) + ")");
    }
    return days;
}

// Options every issuing command has.
void add_common_options(po::options_description& desc, int default_days) {
    desc.add_options()(
            "days", po::value<int>()->default_value(default_days), "validity in days from now")(
            "key",
            po::value<std::string>()->default_value("ec-p256"),
            "key type: ec-p256, ec-p384, rsa-2048, rsa-3072")(
            "org", po::value<std::string>()->default_value(""), "subject organization (O)")(
            "ou", po::value<std::string>()->default_value(""), "subject organizational unit (OU)")(
            "country",
            po::value<std::string>()->default_value(""),
            "subject country (C), 2 letters")(
            "force", "replace existing files instead of refusing")("help,h", "this help");
}

pki::distinguished_name subject_from(const parsed& p, std::string common_name) {
    return {std::move(common_name),
            get<std::string>(p, "org"),
            get<std::string>(p, "ou"),
            get<std::string>(p, "country")};
}

void print_help(
        const std::string& usage, const std::string& about, const po::options_description& desc) {
    std::cout << "usage: thinggatectl " << usage << "\n\n" << about << "\n\n" << desc << '\n';
}

// Output directory: created when missing (mode 0755 minus umask; keys inside are 0600 anyway).
fs::path out_dir(const parsed& p) {
    fs::path dir = required_string(p, "out");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        throw pki::pki_error("cannot create '" + dir.string() + "': " + ec.message());
    }
    return dir;
}

// Refuses before anything is written, so a refusal never leaves a key without its certificate.
void check_writable(const std::vector<fs::path>& paths, bool force) {
    if (force) {
        return;
    }
    for (const auto& path : paths) {
        std::error_code ec;
        if (fs::exists(fs::symlink_status(path, ec))) {
            throw pki::pki_error(
                    "refusing to overwrite existing file '" + path.string() + "' (use --force)");
        }
    }
}

// Wrong names, addresses or subject fields are usage errors (exit 2), found before any key is
// generated; each message names the option.
void check_request(const parsed& p, const pki::cert_request& request) {
    for (const auto& dns : request.dns_sans) {
        if (!pki::is_valid_dns_name(dns)) {
            throw usage_error(p.command, "invalid value '" + dns + "' for --dns");
        }
    }
    for (const auto& ip : request.ip_sans) {
        if (!pki::is_valid_ip_address(ip)) {
            throw usage_error(p.command, "invalid value '" + ip + "' for --ip");
        }
    }
    if (auto problem = pki::check_request(request); !problem.empty()) {
        throw usage_error(p.command, problem);
    }
}

pki::credential load_ca(const parsed& p) {
    const fs::path dir = required_string(p, "ca");
    if (!fs::is_directory(dir)) {
        throw usage_error(
                p.command,
                "--ca expects a directory holding ca.pem and ca.key, got '" + dir.string() + "'");
    }
    pki::credential ca;
    ca.cert = pki::read_certificate_pem(dir / "ca.pem");
    ca.key = pki::read_private_key_pem(dir / "ca.key");
    return ca;
}

// Writes <dir>/<base>.key (0600) and <dir>/<base>.pem (0644) and says what it did.
void write_credential(
        const pki::credential& c, const fs::path& dir, const std::string& base, bool force) {
    const auto key_path = dir / (base + ".key");
    const auto cert_path = dir / (base + ".pem");
    check_writable({key_path, cert_path}, force);
    pki::write_private_key_pem(key_path, *c.key, force);
    pki::write_certificate_pem(cert_path, *c.cert, force);
    const auto info = pki::describe(*c.cert);
    std::cout << "wrote " << cert_path.string() << "\n"
              << "wrote " << key_path.string() << " (mode 0600)\n"
              << "  subject " << info.subject << "\n"
              << "  id      " << info.id << '\n';
}

// --- subcommands -----------------------------------------------------------------------------

int cmd_ca(const std::vector<std::string>& args) {
    po::options_description desc("options");
    desc.add_options()(
            "out", po::value<std::string>(), "directory for ca.pem and ca.key (required)")(
            "cn", po::value<std::string>()->default_value("thinggate CA"), "subject common name")(
            "pathlen",
            po::value<int>()->default_value(0),
            "basicConstraints pathlen; 0 = issues only end-entity certificates, -1 = no limit");
    add_common_options(desc, 3650);
    auto p = parse("pki ca", args, desc);
    if (p.help) {
        print_help(
                "pki ca --out DIR [options]",
                "Creates a self-signed CA (basicConstraints critical CA:TRUE, keyUsage\n"
                "keyCertSign,cRLSign) as DIR/ca.pem and DIR/ca.key.",
                desc);
        return exit_ok;
    }
    pki::cert_request request;
    request.subject = subject_from(p, get<std::string>(p, "cn"));
    request.profile = pki::cert_profile::ca;
    request.days = days_option(p);
    request.path_len = get<int>(p, "pathlen");
    if (request.path_len < -1) {
        throw usage_error(p.command, "invalid value for --pathlen (expected -1 or more)");
    }
    check_request(p, request);
    const auto spec = key_option(p);
    const auto dir = out_dir(p);
    write_credential(
            pki::issue_credential(request, spec, nullptr), dir, "ca", p.vm.count("force") != 0);
    return exit_ok;
}

/// The validated --name (file base name).
std::string name_option(const parsed& p) {
    const auto name = get<std::string>(p, "name");
    if (!pki::is_valid_thing_name(name)) {
        throw usage_error(p.command, "invalid value '" + name + "' for --name");
    }
    return name;
}

/// Completes `request` from the common options, has the CA in --ca sign it, and writes
/// NAME.pem / NAME.key into --out.
int issue_from_ca(const parsed& p, pki::cert_request request, const std::string& name) {
    request.days = days_option(p);
    check_request(p, request);
    const auto spec = key_option(p);
    const auto ca = load_ca(p);
    const auto dir = out_dir(p);
    write_credential(
            pki::issue_credential(request, spec, &ca), dir, name, p.vm.count("force") != 0);
    return exit_ok;
}

int cmd_server(const std::vector<std::string>& args) {
    po::options_description desc("options");
    desc.add_options()(
            "ca", po::value<std::string>(), "CA directory with ca.pem and ca.key (required)")(
            "out", po::value<std::string>(), "output directory (required)")(
            "dns",
            po::value<std::vector<std::string>>()->composing(),
            "DNS subjectAltName (repeatable)")(
            "ip",
            po::value<std::vector<std::string>>()->composing(),
            "IP subjectAltName (repeatable)")(
            "cn",
            po::value<std::string>(),
            "subject common name (default: the first --dns or --ip)")(
            "name",
            po::value<std::string>()->default_value("server"),
            "file base name: NAME.pem, NAME.key");
    add_common_options(desc, 825);
    auto p = parse("pki server", args, desc);
    if (p.help) {
        print_help(
                "pki server --ca DIR --out DIR --dns NAME... --ip ADDRESS... [options]",
                "Issues a TLS server certificate (extendedKeyUsage serverAuth) for the gateway.\n"
                "Clients check the host they connect to against --dns / --ip.\n"
                "example: thinggatectl pki server --ca ca --out server --dns localhost "
                "--ip 127.0.0.1 --ip ::1",
                desc);
        return exit_ok;
    }
    pki::cert_request request;
    request.dns_sans = strings(p, "dns");
    request.ip_sans = strings(p, "ip");
    if (request.dns_sans.empty() && request.ip_sans.empty()) {
        throw usage_error(
                p.command, "give at least one --dns or --ip (the names clients connect to)");
    }
    std::string cn = p.vm.count("cn") != 0       ? get<std::string>(p, "cn")
                     : !request.dns_sans.empty() ? request.dns_sans.front()
                                                 : request.ip_sans.front();
    request.subject = subject_from(p, std::move(cn));
    request.profile = pki::cert_profile::server;
    return issue_from_ca(p, std::move(request), name_option(p));
}

int cmd_device(const std::vector<std::string>& args) {
    po::options_description desc("options");
    desc.add_options()(
            "ca", po::value<std::string>(), "CA directory with ca.pem and ca.key (required)")(
            "thing", po::value<std::string>(), "thing name; becomes the subject CN (required)")(
            "out", po::value<std::string>(), "output directory (required)");
    add_common_options(desc, 825);
    auto p = parse("pki device", args, desc);
    if (p.help) {
        print_help(
                "pki device --ca DIR --thing NAME --out DIR [options]",
                "Issues a device (TLS client) certificate, extendedKeyUsage clientAuth, with\n"
                "CN = the thing name, as DIR/NAME.pem and DIR/NAME.key.",
                desc);
        return exit_ok;
    }
    const auto thing = required_string(p, "thing");
    if (!pki::is_valid_thing_name(thing)) {
        throw usage_error(
                p.command,
                "invalid value '" + thing + "' for --thing (1..128 of A-Z a-z 0-9 _ : -)");
    }
    pki::cert_request request;
    request.subject = subject_from(p, thing);
    request.profile = pki::cert_profile::client;
    return issue_from_ca(p, std::move(request), thing);
}

int cmd_codesign(const std::vector<std::string>& args) {
    po::options_description desc("options");
    desc.add_options()(
            "ca", po::value<std::string>(), "CA directory with ca.pem and ca.key (required)")(
            "out", po::value<std::string>(), "output directory (required)")(
            "cn",
            po::value<std::string>()->default_value("thinggate code signing"),
            "subject common name")(
            "name",
            po::value<std::string>()->default_value("codesign"),
            "file base name: NAME.pem, NAME.key");
    add_common_options(desc, 1095);
    auto p = parse("pki codesign", args, desc);
    if (p.help) {
        print_help(
                "pki codesign --ca DIR --out DIR [options]",
                "Issues a firmware code-signing certificate: keyUsage critical digitalSignature,\n"
                "extendedKeyUsage codeSigning. FreeRTOS OTA expects ec-p256 (ECDSA + SHA-256).",
                desc);
        return exit_ok;
    }
    pki::cert_request request;
    request.subject = subject_from(p, get<std::string>(p, "cn"));
    request.profile = pki::cert_profile::code_signing;
    return issue_from_ca(p, std::move(request), name_option(p));
}

int cmd_dev(const std::vector<std::string>& args) {
    po::options_description desc("options");
    desc.add_options()(
            "dir",
            po::value<std::string>()->default_value("var"),
            "data directory; files go to DIR/pki")(
            "thing",
            po::value<std::string>()->default_value(std::string(pki::dev_thing_name)),
            "thing name of the demo device certificate")("help,h", "this help");
    auto p = parse("pki dev", args, desc);
    if (p.help) {
        print_help(
                "pki dev [--dir DIR] [--thing NAME]",
                "Creates the development PKI exactly as the daemon does on its first start:\n"
                "DIR/pki/{ca,server,NAME}.{pem,key}, ECDSA P-256. An existing complete set is\n"
                "reused; a partial set is an error. For development only.",
                desc);
        return exit_ok;
    }
    const auto thing = get<std::string>(p, "thing");
    if (!pki::is_valid_thing_name(thing) || thing == "ca" || thing == "server") {
        throw usage_error(p.command, "invalid value '" + thing + "' for --thing");
    }
    const auto set = pki::ensure_dev_pki(get<std::string>(p, "dir"), thing);
    std::cout << (set.created ? "created" : "reusing") << " development PKI in "
              << set.ca_cert.parent_path().string() << '\n';
    const std::array<std::pair<const char*, const fs::path*>, 3> certs = {{
            {"ca    ", &set.ca_cert},
            {"server", &set.server_cert},
            {"device", &set.device_cert},
    }};
    for (const auto& [label, path] : certs) {
        std::cout << "  " << label << " " << path->string() << "  id "
                  << pki::certificate_id(*pki::read_certificate_pem(*path)) << '\n';
    }
    return exit_ok;
}

void print_list(const char* label, const std::vector<std::string>& items) {
    std::cout << label;
    if (items.empty()) {
        std::cout << "-";
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
        std::cout << (i == 0 ? "" : ", ") << items[i];
    }
    std::cout << '\n';
}

int cmd_show(const std::vector<std::string>& args) {
    po::options_description desc("options");
    desc.add_options()("help,h", "this help");
    po::options_description hidden;
    hidden.add_options()("file", po::value<std::vector<std::string>>());
    po::options_description all;
    all.add(desc).add(hidden);
    auto p = parse("pki show", args, all, "file", -1);
    if (p.help) {
        print_help(
                "pki show FILE...",
                "Prints subject, issuer, SANs, key usage, validity and certificate id\n"
                "(SHA-256 of the DER encoding) of PEM certificates.",
                desc);
        return exit_ok;
    }
    const auto files = strings(p, "file");
    if (files.empty()) {
        throw usage_error(p.command, "missing FILE");
    }
    for (std::size_t i = 0; i < files.size(); ++i) {
        const auto info = pki::describe(*pki::read_certificate_pem(files[i]));
        if (i != 0) {
            std::cout << '\n';
        }
        std::cout << "file:        " << files[i] << "\n"
                  << "subject:     " << info.subject << "\n"
                  << "issuer:      " << info.issuer << "\n"
                  << "serial:      " << info.serial_hex << "\n"
                  << "not before:  " << info.not_before << "\n"
                  << "not after:   " << info.not_after << "\n"
                  << "key:         " << info.key << '\n';
        std::cout << "CA:          ";
        if (info.is_ca) {
            std::cout << "yes";
            if (info.path_len) {
                std::cout << " (pathlen " << *info.path_len << ")";
            }
        } else {
            std::cout << "no";
        }
        std::cout << '\n';
        print_list("SANs:        ", info.sans);
        print_list("key usage:   ", info.key_usage);
        print_list("ext. usage:  ", info.extended_key_usage);
        std::cout << "id (sha256): " << info.id << '\n';
    }
    return exit_ok;
}

struct subcommand {
    std::string_view name;
    std::string_view summary;
    int (*run)(const std::vector<std::string>& args);
};

constexpr std::array<subcommand, 6> subcommands = {{
        {"ca", "create a CA (ca.pem, ca.key)", &cmd_ca},
        {"server", "issue a TLS server certificate for the gateway", &cmd_server},
        {"device", "issue a device certificate (CN = thing name)", &cmd_device},
        {"codesign", "issue a firmware code-signing certificate", &cmd_codesign},
        {"dev", "create or reuse the development PKI (as the daemon's first start)", &cmd_dev},
        {"show", "print a certificate's subject, SANs, usages, validity and id", &cmd_show},
}};

void print_pki_usage(std::ostream& out) {
    out << "usage: thinggatectl pki <command> [options]\n\ncommands:\n";
    for (const auto& c : subcommands) {
        out << "  " << c.name << std::string(10 - c.name.size(), ' ') << c.summary << '\n';
    }
    out << "\nRun 'thinggatectl pki <command> --help' for its options. Keys are ECDSA P-256 "
           "unless --key says otherwise;\nprivate keys are written with mode 0600 and never "
           "overwritten without --force.\n";
}

} // namespace

int run_pki(const std::vector<std::string>& args) {
    if (args.empty()) {
        print_pki_usage(std::cerr);
        return exit_usage;
    }
    if (args.front() == "-h" || args.front() == "--help" || args.front() == "help") {
        print_pki_usage(std::cout);
        return exit_ok;
    }
    for (const auto& c : subcommands) {
        if (args.front() == c.name) {
            return c.run(std::vector<std::string>(args.begin() + 1, args.end()));
        }
    }
    throw usage_error("pki", "unknown command '" + args.front() + "'");
}

} // namespace thinggate::ctl

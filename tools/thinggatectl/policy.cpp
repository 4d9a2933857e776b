// thinggatectl policy test: evaluates one action on one resource for a device as the gateway
// would (thing resolution, certificate and group policies, variables) and explains the decision,
// like AWS IoT's TestAuthorization. Offline on a data dir (docs/security.md, "Debugging a
// denial").

#include <algorithm>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include "auth/certificate_fields.hpp"
#include "auth/effective_policy.hpp"
#include "policy/resource.hpp"
#include "policy/text.hpp"
#include "tools/thinggatectl/command.hpp"
#include "tools/thinggatectl/data_dir.hpp"
#include "tools/thinggatectl/options.hpp"
#include "tools/thinggatectl/registry_session.hpp"

namespace thinggate::ctl {

namespace {

namespace po = boost::program_options;
namespace json = boost::json;
namespace pol = thinggate::policy;
using namespace thinggate::auth;

/// The resource as a full ARN: given as one, or as "<type>/<name>" (client/..., topic/...,
/// topicfilter/...) completed with the region and account.
std::string resource_arn(const parsed& p, const pol::resource_names& names) {
    auto r = required_string(p, "resource");
    if (r.starts_with("arn:")) {
        return r;
    }
    auto slash = r.find('/');
    if (slash == std::string::npos) {
        throw usage_error(
                p.command,
                "--resource '" + r +
                        "' must be an ARN or <type>/<name> (topic/a/b, "
                        "topicfilter/a/#, client/id)");
    }
    return pol::make_arn(names, r.substr(0, slash), r.substr(slash + 1));
}

std::string_view action_type(std::string_view action) {
    using pol::iequals;
    if (iequals(action, "iot:Connect")) {
        return "CONNECT";
    }
    if (iequals(action, "iot:Publish") || iequals(action, "iot:RetainPublish")) {
        return "PUBLISH";
    }
    if (iequals(action, "iot:Subscribe")) {
        return "SUBSCRIBE";
    }
    if (iequals(action, "iot:Receive")) {
        return "RECEIVE";
    }
    return "OTHER";
}

/// {"policies": [{"policyName", "policyArn"}, ...]}
json::object
policy_list(const std::vector<std::string>& policies, const pol::resource_names& names) {
    json::array out;
    for (const auto& name : policies) {
        out.push_back(json::object{
                {"policyName", name}, {"policyArn", pol::make_arn(names, "policy", name)}});
    }
    json::object o;
    o["policies"] = std::move(out);
    return o;
}

json::object statement_json(const pol::explanation::statement_info& s) {
    json::object o;
    o["policyName"] = s.policy;
    o["policyVersionId"] = s.version_id;
    o["statementIndex"] = s.statement_index;
    o["sid"] = s.sid;
    o["effect"] = s.eff == pol::effect::allow ? "Allow" : "Deny";
    json::array resources;
    for (const auto& r : s.resources) {
        resources.emplace_back(r);
    }
    o["resources"] = std::move(resources);
    return o;
}

std::vector<std::string>
policies_of(const std::vector<pol::explanation::statement_info>& list, pol::effect e) {
    std::vector<std::string> out;
    for (const auto& s : list) {
        if (s.eff == e && std::find(out.begin(), out.end(), s.policy) == out.end()) {
            out.push_back(s.policy);
        }
    }
    return out;
}

int cmd_test(const std::vector<std::string>& args) {
    po::options_description desc(
            "thinggatectl policy test --data-dir DIR (--certificate ID | --thing NAME) "
            "--action ACTION --resource RESOURCE [options]");
    desc.add_options()("help,h", "this help")(
            "data-dir", po::value<std::string>(), "the data dir (thinggate must not be running)")(
            "certificate", po::value<std::string>(), "the device's certificate id")(
            "thing",
            po::value<std::string>(),
            "bind this thing (default: resolved from the certificate and the client id)")(
            "client-id",
            po::value<std::string>(),
            "the MQTT client id (default: the --thing name)")(
            "action",
            po::value<std::string>(),
            "iot:Connect, iot:Publish, iot:Subscribe, iot:Receive, ...")(
            "resource",
            po::value<std::string>(),
            "an ARN, or topic/..., topicfilter/..., client/...")(
            "source-ip", po::value<std::string>(), "aws:SourceIp")(
            "region", po::value<std::string>()->default_value("local"), "region of the ARNs")(
            "account",
            po::value<std::string>()->default_value("000000000000"),
            "account of the ARNs")(
            "json", "print AWS TestAuthorization's JSON (plus thinggate's explanation)");
    auto p = parse("policy test", args, desc);
    if (p.help) {
        std::cout << "Evaluates one action for a device as the gateway would and explains the "
                     "decision.\n\n"
                  << desc;
        return exit_ok;
    }
    auto dir = required_string(p, "data-dir");
    auto action = required_string(p, "action");
    if (!action.starts_with("iot:") && !action.starts_with("IOT:")) {
        throw usage_error(p.command, "--action '" + action + "' must be iot:<Name>");
    }
    std::optional<std::string> thing;
    if (p.vm.count("thing") != 0) {
        thing = required_string(p, "thing");
    }
    std::string cert_id =
            p.vm.count("certificate") != 0 ? required_string(p, "certificate") : std::string();
    if (cert_id.empty() && !thing) {
        throw usage_error(p.command, "give --certificate or --thing (or both)");
    }
    std::string client_id =
            p.vm.count("client-id") != 0 ? get<std::string>(p, "client-id") : thing.value_or("");
    if (client_id.empty()) {
        throw usage_error(p.command, "missing required option --client-id");
    }
    pol::resource_names names{get<std::string>(p, "region"), get<std::string>(p, "account")};
    auto resource = resource_arn(p, names);

    quiet_logging();
    auto session = open_registry_session(dir, false);
    auto snap = session.reg->snapshot();
    if (thing && snap->find_thing(*thing) == nullptr) {
        throw std::runtime_error(
                "ResourceNotFoundException: thing \"" + *thing + "\" does not exist");
    }
    if (cert_id.empty()) {
        // The thing's certificate, when it has exactly one.
        auto principals = snap->state().attachments_to(attachment_kind::certificate_thing, *thing);
        if (principals.size() > 1) {
            std::string ids;
            for (const auto* a : principals) {
                ids += ' ' + a->first;
            }
            throw usage_error(
                    p.command,
                    "thing \"" + *thing + "\" has several certificates; give --certificate:" + ids);
        }
        if (principals.size() == 1) {
            cert_id = principals.front()->first;
        }
    }
    pol::context ctx;
    ctx.names = names;
    ctx.client_id = client_id;
    ctx.source_ip = p.vm.count("source-ip") != 0 ? get<std::string>(p, "source-ip") : std::string();
    const certificate* cert = nullptr;
    if (!cert_id.empty()) {
        cert = snap->find_certificate(cert_id);
        if (cert == nullptr) {
            throw std::runtime_error(
                    "ResourceNotFoundException: certificate \"" + cert_id + "\" does not exist");
        }
        auto x509 = parse_certificate_pem(cert->pem);
        if (!x509) {
            throw std::runtime_error("certificate " + cert_id + ": " + x509.error().message);
        }
        ctx.certificate = certificate_fields(**x509);
    }
    auto conn = resolve_connection(*snap, std::move(ctx), thing);
    auto kind = pol::iequals(action, "iot:Connect") ? pol::request_kind::connect
                                                    : pol::request_kind::other;
    auto why = conn.policies.explain(action, resource, kind);

    std::vector<std::string> notes;
    if (cert != nullptr && cert->status != certificate_status::active) {
        notes.push_back(
                "certificate " + cert->id + " is " + std::string(to_string(cert->status)) +
                ": the gateway refuses it at the TLS handshake whatever the policies say");
    }
    if (!conn.thing) {
        notes.push_back(
                "no thing is bound (the certificate is not attached to a thing named \"" +
                client_id +
                "\" nor exclusively): iot:Connection.Thing.* variables are unresolved and "
                "thing group policies do not apply");
    }
    if (conn.applied.empty()) {
        notes.push_back("no policy applies to this device");
    }

    if (p.vm.count("json") != 0) {
        std::vector<std::string> evaluated;
        for (const auto& a : conn.applied) {
            evaluated.push_back(a.name);
        }
        json::object result;
        result["authInfo"] = json::object{
                {"actionType", action_type(action)},
                {"resources", json::array{json::string(resource)}}};
        auto denies = policies_of(why.matched, pol::effect::deny);
        bool implicit = why.result == pol::decision::implicit_deny;
        bool allowed = why.result == pol::decision::allowed;
        result["allowed"] = policy_list(
                allowed ? policies_of(why.matched, pol::effect::allow) : std::vector<std::string>{},
                names);
        json::object denied;
        denied["implicitDeny"] =
                policy_list(implicit ? evaluated : std::vector<std::string>{}, names);
        denied["explicitDeny"] = policy_list(denies, names);
        result["denied"] = std::move(denied);
        result["authDecision"] = pol::to_string(why.result);
        result["missingContextValues"] = json::array{};
        json::object detail;
        detail["clientId"] = client_id;
        detail["certificateId"] = cert_id;
        detail["certificateStatus"] =
                cert != nullptr ? json::value(to_string(cert->status)) : json::value(nullptr);
        detail["thingName"] = conn.thing ? json::value(conn.thing->name) : json::value(nullptr);
        json::array groups;
        for (const auto& g : conn.groups) {
            groups.emplace_back(g);
        }
        detail["thingGroups"] = std::move(groups);
        json::array applied;
        for (const auto& a : conn.applied) {
            applied.push_back(json::object{
                    {"policyName", a.name},
                    {"policyVersionId", std::to_string(a.version)},
                    {"via", a.via}});
        }
        detail["policies"] = std::move(applied);
        detail["decidedBy"] = why.decided_by ? json::value(statement_json(*why.decided_by))
                                             : json::value(nullptr);
        json::array matched;
        for (const auto& m : why.matched) {
            matched.push_back(statement_json(m));
        }
        detail["matched"] = std::move(matched);
        json::array failed;
        for (const auto& m : why.conditions_failed) {
            failed.push_back(statement_json(m));
        }
        detail["conditionsNotMet"] = std::move(failed);
        json::object variables;
        for (const auto& v : why.variables) {
            variables[v.name] = v.value ? json::value(*v.value) : json::value(nullptr);
        }
        detail["variables"] = std::move(variables);
        detail["notes"] = json::array(notes.begin(), notes.end());
        pretty(std::cout,
               json::object{
                       {"authResults", json::array{std::move(result)}},
                       {"thinggate", std::move(detail)}});
        std::cout << '\n';
        return exit_ok;
    }

    std::cout << why.to_string();
    std::cout << "  client id: " << client_id << '\n';
    std::cout << "  certificate: "
              << (cert != nullptr ? cert->id + " (" + std::string(to_string(cert->status)) + ")"
                                  : "none")
              << '\n';
    std::cout << "  thing: "
              << (conn.thing ? conn.thing->name + (conn.thing->exclusive ? " (exclusive)" : "")
                             : "none")
              << '\n';
    for (const auto& a : conn.applied) {
        std::cout << "  policy \"" << a.name << "\" version " << a.version << " via " << a.via
                  << '\n';
    }
    for (const auto& n : notes) {
        std::cout << "  note: " << n << '\n';
    }
    return exit_ok;
}

} // namespace

int run_policy(const std::vector<std::string>& args) {
    auto usage = [](std::ostream& out) {
        out << "usage: thinggatectl policy test --data-dir DIR (--certificate ID | --thing NAME)\n"
               "           --action ACTION --resource RESOURCE [--client-id ID] [--json]\n\n"
               "commands:\n  test        would the device be allowed this action (and why)\n";
    };
    if (args.empty()) {
        usage(std::cerr);
        return exit_usage;
    }
    if (args.front() == "-h" || args.front() == "--help" || args.front() == "help") {
        usage(std::cout);
        return exit_ok;
    }
    if (args.front() == "test") {
        return cmd_test(std::vector<std::string>(args.begin() + 1, args.end()));
    }
    throw usage_error("policy", "unknown command '" + args.front() + "'");
}

} // namespace thinggate::ctl

#include "src/options.h"

#include <CLI/CLI.hpp>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <iostream>

#include "src/xks/transport.h"

namespace kmsd {
namespace {

// A Region name as AWS spells them (us-east-1, eu-central-2, us-gov-west-1, cn-north-1): lower
// case letters and digits in hyphen-separated parts, ending in a number. kmsd puts it in ARNs.
std::string CheckRegion(const std::string& v) {
    const std::string why = "'" + v + "' is not a Region name (such as us-east-1)";
    if (v.empty() || v.size() > 32 || v.front() == '-' || v.back() == '-') return why;
    if (v.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
        return why;
    if (v.find("--") != std::string::npos || v.find('-') == std::string::npos) return why;
    if (!std::isdigit(static_cast<unsigned char>(v.back()))) return why;
    return std::string();
}

// Checked here, before the data directory is touched, rather than when the server binds.
std::string CheckAddress(const std::string& v) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(v, ec);
    return ec ? "'" + v + "' is not an IPv4 or IPv6 address" : std::string();
}

// The server applies each mapping with AddEndpointMapping; checked here with the same code so a
// bad one is a usage error (exit 105) like every other bad option, not a failure to start.
std::string CheckEndpointMapping(const std::string& v) {
    xks::TransportOptions scratch;
    const Status added = xks::AddEndpointMapping(scratch, v);
    if (added.ok()) return std::string();
    // CLI11 puts the option's name before the message; the message names it too.
    std::string_view why = added.message();
    for (std::string_view prefix : {"--xks-endpoint-map: ", "--xks-endpoint-map "})
        if (why.substr(0, prefix.size()) == prefix) why.remove_prefix(prefix.size());
    return std::string(why);
}

std::string CheckNotEmpty(const std::string& v) {
    return v.empty() ? std::string("must not be empty") : std::string();
}

}  // namespace

Result<Options> ParseOptions(int argc, char** argv, int& exit_code) {
    Options o;
    exit_code = -1;
    CLI::App app{"kmsd: a local AWS KMS with a software HSM"};
    app.option_defaults()->always_capture_default();
    app.add_option("--port", o.server.port, "TCP port to listen on")
        ->envname("PORT")
        ->check(CLI::Range(1, 65535));
    app.add_option("--bind", o.server.bind, "Address to bind (an IPv4 or IPv6 address)")
        ->envname("KMSD_BIND")
        ->check(CheckAddress);
    app.add_option("--data-dir", o.storage.data_dir, "Directory of kmsd.db and master.key")
        ->envname("KMS_DATA_PATH")
        ->check(CheckNotEmpty);
    app.add_flag("--in-memory", o.storage.in_memory, "Keep everything in memory (nothing on disk)")
        ->envname("KMSD_IN_MEMORY");
    app.add_option("--master-key-file", o.storage.master_key_file,
                   "File holding the 32-byte master key (raw or base64)")
        ->envname("KMSD_MASTER_KEY_FILE");
    app.add_option("--seed", o.storage.seed_file,
                   "local-kms seed YAML applied at start (existing keys are left alone)")
        ->envname("KMS_SEED_PATH");
    app.add_flag("--seed-optional", o.storage.seed_optional,
                 "Start normally when the seed file does not exist")
        ->envname("KMSD_SEED_OPTIONAL");
    app.add_option("--region", o.identity.region, "Region of requests without a SigV4 scope")
        ->envname("KMS_REGION")
        ->check(CheckRegion);
    app.add_option("--account-id", o.identity.account_id, "Account of callers")
        ->envname("KMS_ACCOUNT_ID")
        ->check([](const std::string& v) {
            return v.size() == 12 && v.find_first_not_of("0123456789") == std::string::npos
                       ? std::string()
                       : std::string("account ID must be 12 digits");
        });
    std::string auth = "open";
    app.add_option("--auth", auth, "open: any access key; strict: verify SigV4 signatures")
        ->envname("KMSD_AUTH")
        ->check(CLI::IsMember({"open", "strict"}));
    app.add_option("--principals", o.identity.principals,
                   "YAML file of accounts, users and roles with their access keys")
        ->envname("KMSD_PRINCIPALS");
    app.add_option("--admin-token", o.server.admin_token,
                   "Bearer token required by admin endpoints except GET /_kmsd/health")
        ->envname("KMSD_ADMIN_TOKEN");
    app.add_flag("--allow-export-material", o.allow_export_material,
                 "GET /_kmsd/export includes key material (test fixtures only)")
        ->envname("KMSD_ALLOW_EXPORT_MATERIAL");
    app.add_flag("--aws-managed-keys-via-service", o.aws_managed_keys_via_service,
                 "Treat calls on AWS managed keys (alias/aws/*) as made through their service, "
                 "so their key policy allows them")
        ->envname("KMSD_AWS_MANAGED_KEYS_VIA_SERVICE");
    app.add_option("--xks-endpoint-map", o.xks.endpoint_map,
                   "host=address:port: reach the external key store proxy of https://host at "
                   "address:port (its certificate is still checked for host); repeatable")
        ->envname("KMSD_XKS_ENDPOINT_MAP")
        ->delimiter(',')
        ->check(CheckEndpointMapping);
    app.add_option("--xks-ca-file", o.xks.ca_file,
                   "PEM certificates trusted for external key store proxies, besides the "
                   "system's")
        ->envname("KMSD_XKS_CA_FILE");
    app.add_option("--xks-timeout-ms", o.xks.timeout_ms,
                   "How long a call to an external key store proxy may take (AWS: 250 ms)")
        ->envname("KMSD_XKS_TIMEOUT_MS")
        ->check(CLI::Range(1, 60000));
    app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error or off")
        ->envname("KMSD_LOG_LEVEL")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    app.add_option("--log-format", o.log_format,
                   "text, or json: one JSON object per line (time, level, logger, message)")
        ->envname("KMSD_LOG_FORMAT")
        ->check(CLI::IsMember({"text", "json"}));
    app.add_option("--audit-ring", o.audit_ring,
                   "CloudTrail records kept in memory for GET /_kmsd/audit (0: none)")
        ->envname("KMSD_AUDIT_RING")
        ->check(CLI::Range(0, 10000000));
    app.add_option("--audit-log", o.audit_log,
                   "File the CloudTrail records are appended to, one JSON object per line")
        ->envname("KMSD_AUDIT_LOG");
    app.add_option("--threads", o.server.threads, "Worker threads (0 = cores)")
        ->envname("KMSD_THREADS")
        ->check(CLI::Range(0, 1024));
    app.add_option("--max-connections", o.server.max_connections,
                   "Connections beyond this are closed at once")
        ->envname("KMSD_MAX_CONNECTIONS")
        ->check(CLI::Range(1, 1000000));
    app.add_option("--request-timeout", o.server.request_timeout_seconds,
                   "Seconds a client has to send a whole request")
        ->envname("KMSD_REQUEST_TIMEOUT")
        ->check(CLI::Range(1, 86400));
    auto* health = app.add_subcommand("healthcheck", "Probe a running kmsd's /_kmsd/health");
    health->add_option("--port", o.server.port, "Port of the running kmsd")
        ->envname("PORT")
        ->check(CLI::Range(1, 65535));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        exit_code = app.exit(e);
        return Error(ErrorCode::kValidation, "bad options");
    }
    o.healthcheck = health->parsed();
    o.identity.strict = auth == "strict";
    return o;
}

}  // namespace kmsd

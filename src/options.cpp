#include "src/options.h"

#include <CLI/CLI.hpp>
#include <iostream>

namespace kmsd {

Result<Options> ParseOptions(int argc, char** argv, int& exit_code) {
    Options o;
    exit_code = -1;
    CLI::App app{"kmsd: a local AWS KMS with a software HSM"};
    app.option_defaults()->always_capture_default();
    app.add_option("--port", o.server.port, "TCP port to listen on")->envname("PORT");
    app.add_option("--bind", o.server.bind, "Address to bind")->envname("KMSD_BIND");
    app.add_option("--data-dir", o.storage.data_dir, "Directory of kmsd.db and master.key")
        ->envname("KMS_DATA_PATH");
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
        ->envname("KMS_REGION");
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
    app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error or off")
        ->envname("KMSD_LOG_LEVEL");
    app.add_option("--threads", o.server.threads, "Worker threads (0 = cores)")
        ->envname("KMSD_THREADS");
    app.add_option("--max-connections", o.server.max_connections,
                   "Connections beyond this are closed at once")
        ->envname("KMSD_MAX_CONNECTIONS");
    app.add_option("--request-timeout", o.server.request_timeout_seconds,
                   "Seconds a client has to send a whole request")
        ->envname("KMSD_REQUEST_TIMEOUT");
    auto* health = app.add_subcommand("healthcheck", "Probe a running kmsd's /_kmsd/health");
    health->add_option("--port", o.server.port, "Port of the running kmsd")->envname("PORT");
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

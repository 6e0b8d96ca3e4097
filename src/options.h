// Command-line options, each with an environment variable (flag wins over env over default).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"

namespace kmsd {

struct ServerOptions {
    int port = 8080;                   // PORT
    std::string bind = "127.0.0.1";    // KMSD_BIND
    int threads = 0;                   // KMSD_THREADS; 0 = number of cores
    int max_connections = 4096;        // KMSD_MAX_CONNECTIONS; more are closed at once
    int request_timeout_seconds = 20;  // KMSD_REQUEST_TIMEOUT; a request must arrive in this time
    std::string admin_token;           // KMSD_ADMIN_TOKEN; admin endpoints (but health) need it
};

struct StorageOptions {
    std::string data_dir = "./kmsd-data";  // KMS_DATA_PATH
    bool in_memory = false;                // KMSD_IN_MEMORY
    std::string master_key_file;           // KMSD_MASTER_KEY_FILE
    std::string seed_file;                 // KMS_SEED_PATH; local-kms seed YAML
    bool seed_optional = false;            // a missing seed file is fine (the image's default)
};

struct IdentityOptions {
    bool strict = false;     // --auth strict (KMSD_AUTH): verify SigV4, only known access keys
    std::string principals;  // KMSD_PRINCIPALS: principals YAML (design.md §5)
    std::string region = "us-east-1";         // KMS_REGION, for unsigned requests
    std::string account_id = "111122223333";  // KMS_ACCOUNT_ID
};

// How kmsd reaches external key store proxies (src/xks/transport.h).
struct XksOptions {
    std::vector<std::string> endpoint_map;  // KMSD_XKS_ENDPOINT_MAP: host=address:port, ...
    std::string ca_file;                    // KMSD_XKS_CA_FILE: PEM certificates to trust
    int timeout_ms = 250;                   // KMSD_XKS_TIMEOUT_MS: per proxy call (AWS: 250)
};

struct Options {
    ServerOptions server;
    StorageOptions storage;
    IdentityOptions identity;
    XksOptions xks;
    std::string log_level = "info";   // KMSD_LOG_LEVEL
    std::string log_format = "text";  // KMSD_LOG_FORMAT: text or json (one object per line)
    // The audit log (src/audit_log.h): records kept in memory for GET /_kmsd/audit
    // (KMSD_AUDIT_RING; 0 keeps none) and the JSON-lines file they are appended to
    // (KMSD_AUDIT_LOG; "" for none).
    std::size_t audit_ring = 10000;
    std::string audit_log;
    // GET /_kmsd/export includes key material (KMSD_ALLOW_EXPORT_MATERIAL; test fixtures only).
    bool allow_export_material = false;
    // Calls on AWS managed keys (alias/aws/<service>) count as coming through their service:
    // kms:ViaService is set, so their policy lets the account use them directly
    // (KMSD_AWS_MANAGED_KEYS_VIA_SERVICE; api/managed_keys.h).
    bool aws_managed_keys_via_service = false;
    // `kmsd healthcheck`: probe /_kmsd/health on server.port and exit 0/1.
    bool healthcheck = false;
};

// Parses argv. Returns the options, or an exit code in `exit_code` (0 for --help) when the
// program should stop right away.
Result<Options> ParseOptions(int argc, char** argv, int& exit_code);

}  // namespace kmsd

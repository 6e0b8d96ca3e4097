// `kmsd xks-proxy`: an external key store proxy as AWS's XKS Proxy API specification (v1)
// defines it, backed by its own software keys, so a test runs the whole external key store flow
// offline: kmsd (the KMS side) and this proxy (the customer's side), two processes.
//
// It serves POST <uri-path>/health and <uri-path>/keys/<id>/{metadata,encrypt,decrypt} over
// HTTPS, checks every request's SigV4 signature (service kms-xks-proxy) against the one
// credential it is given, and encrypts with AES-256-GCM under a key derived for each external
// key ID from its own master key. Everything it needs lives in its data directory, made on first
// start: master.key, tls-cert.pem (the certificate kmsd must trust: --xks-ca-file) and
// tls-key.pem; a restart with the same directory serves the same keys and certificate.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/secure_bytes.h"
#include "common/status.h"

namespace kmsd::xks {

struct ProxyOptions {
    std::string data_dir = "./kmsd-xks-proxy";
    std::string bind = "127.0.0.1";
    int port = 8443;
    std::string tls_name = "localhost";  // the certificate's DNS name
    std::string access_key_id;
    SecureString secret_access_key;
    std::string uri_path = "/kms/xks/v1";
    std::vector<std::string> keys;           // external key IDs, ENABLED
    std::vector<std::string> disabled_keys;  // external key IDs, DISABLED
    std::string region;                      // "" accepts the Region each request is signed for
};

// What the proxy answers one request: status and JSON body (empty for 405).
struct ProxyReply {
    int status = 200;
    std::string body;
};

// The request handling without sockets (unit tests and the fuzz target call it directly).
class ProxyCore {
public:
    ProxyCore(ProxyOptions options, SecureBytes master_key);
    // `now` is seconds since the epoch (requests more than 5 minutes off are refused).
    ProxyReply Handle(std::string_view method, std::string_view target,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      std::string_view body, double now) const;

private:
    ProxyOptions options_;
    SecureBytes master_key_;
};

// Parses `kmsd xks-proxy` arguments (argv[1] is "xks-proxy") and runs the proxy until SIGINT or
// SIGTERM. Returns the process's exit code.
int RunProxyCommand(int argc, char** argv);

}  // namespace kmsd::xks

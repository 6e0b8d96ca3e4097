// Self-signed certificates for simulated infrastructure: the trust anchor of a simulated
// CloudHSM cluster (what customerCA.crt is for a real one). Its private key is thrown away: only
// the certificate's text is ever compared.
#pragma once

#include <string>

#include "common/secure_bytes.h"
#include "common/status.h"

namespace kmsd::hsm {

// A PEM certificate for `common_name` (EC P-256, SHA-256, valid for ten years from now).
Result<std::string> SelfSignedCertificatePem(const std::string& common_name);

// A TLS server's self-signed certificate for `dns_name` (in the subject and as its one
// subjectAltName), EC P-256, and its private key (PKCS#8 PEM): what `kmsd xks-proxy` serves, and
// what a client names as the CA it trusts.
struct ServerCertificate {
    std::string certificate_pem;
    SecureString private_key_pem;
};
Result<ServerCertificate> SelfSignedServerCertificate(const std::string& dns_name);

}  // namespace kmsd::hsm

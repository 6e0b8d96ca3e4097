#include "hsm/certificate.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace kmsd::hsm {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

constexpr long kTenYears = 10L * 365 * 24 * 3600;

}  // namespace

namespace {

Status Failed() { return Error(ErrorCode::kInternal, "certificate generation failed"); }

// A self-signed certificate for `common_name` under `key`, with `san` as its subjectAltName
// when not empty (e.g. "DNS:xks.example.com").
Result<X509Ptr> MakeCertificate(EVP_PKEY* key, const std::string& common_name,
                                const std::string& san) {
    X509Ptr cert(X509_new());
    if (!cert) return Failed();
    X509_NAME* name = X509_get_subject_name(cert.get());
    if (X509_set_version(cert.get(), 2) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), kTenYears) == nullptr ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                   -1, 0) != 1 ||
        X509_set_issuer_name(cert.get(), name) != 1 || X509_set_pubkey(cert.get(), key) != 1)
        return Failed();
    if (!san.empty()) {
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
        if (ext == nullptr) return Failed();
        const int added = X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
        if (added != 1) return Failed();
    }
    if (X509_sign(cert.get(), key, EVP_sha256()) <= 0) return Failed();
    return cert;
}

// What `bio` holds, as text.
template <typename String>
Result<String> BioText(BIO* bio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || data == nullptr) return Failed();
    String out(data, static_cast<std::size_t>(len));
    OPENSSL_cleanse(data, static_cast<std::size_t>(len));
    return out;
}

Result<std::string> CertificatePem(X509* cert) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return Failed();
    return BioText<std::string>(bio.get());
}

}  // namespace

Result<std::string> SelfSignedCertificatePem(const std::string& common_name) {
    PkeyPtr key(EVP_EC_gen("P-256"));
    if (!key) return Failed();
    KMSD_ASSIGN_OR_RETURN(X509Ptr cert, MakeCertificate(key.get(), common_name, ""));
    return CertificatePem(cert.get());
}

Result<ServerCertificate> SelfSignedServerCertificate(const std::string& dns_name) {
    PkeyPtr key(EVP_EC_gen("P-256"));
    if (!key) return Failed();
    KMSD_ASSIGN_OR_RETURN(X509Ptr cert, MakeCertificate(key.get(), dns_name, "DNS:" + dns_name));
    ServerCertificate out;
    KMSD_ASSIGN_OR_RETURN(out.certificate_pem, CertificatePem(cert.get()));
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio ||
        PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return Failed();
    KMSD_ASSIGN_OR_RETURN(out.private_key_pem, BioText<SecureString>(bio.get()));
    return out;
}

}  // namespace kmsd::hsm

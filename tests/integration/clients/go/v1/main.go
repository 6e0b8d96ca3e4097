// The client flow (tests/integration/python/test_clients.py) with the AWS SDK for Go v1, built in
// GOPATH mode against Debian's golang-github-aws-aws-sdk-go-dev:
//
//	flow ENDPOINT ACCESS_KEY SECRET_KEY [WRONG_SECRET_KEY]
//
// Prints "ok <step>" per step and exits 1 with "FAIL <step>: ..." on the first wrong result. With
// WRONG_SECRET_KEY (strict mode) it also checks that a request signed with it is refused.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/kms"
)

const (
	region  = "us-east-1"
	account = "111122223333"
	client  = "go-v1"
)

var step = "setup"

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL %s: %s\n", step, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func ok() { fmt.Printf("ok %s\n", step) }

func check(err error) {
	if err != nil {
		fail("unexpected error: %v", err)
	}
}

func expect(what string, got, want interface{}) {
	if !reflect.DeepEqual(got, want) {
		fail("%s: got %#v, want %#v", what, got, want)
	}
}

// expectCode checks that err is an HTTP 400 awserr.RequestFailure with this error code and a
// request ID (the callers then check the modeled exception's Go type where the KMS model has one).
func expectCode(err error, code string) awserr.RequestFailure {
	if err == nil {
		fail("succeeded; want %s", code)
	}
	rf, isRF := err.(awserr.RequestFailure)
	if !isRF {
		fail("error %T %v is not an awserr.RequestFailure", err, err)
	}
	if rf.Code() != code || rf.StatusCode() != 400 {
		fail("got %s (HTTP %d: %q), want %s (HTTP 400)", rf.Code(), rf.StatusCode(), rf.Message(), code)
	}
	if rf.RequestID() == "" {
		fail("%s without a request ID (x-amzn-RequestId)", code)
	}
	return rf
}

func keyArn(id string) string { return "arn:aws:kms:" + region + ":" + account + ":key/" + id }

func newClient(endpoint, access, secret string) *kms.KMS {
	sess := session.Must(session.NewSession(&aws.Config{
		Endpoint:    aws.String(endpoint),
		Region:      aws.String(region),
		Credentials: credentials.NewStaticCredentials(access, secret, ""),
	}))
	return kms.New(sess)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func main() {
	if len(os.Args) != 4 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: flow ENDPOINT ACCESS_KEY SECRET_KEY [WRONG_SECRET_KEY]")
		os.Exit(2)
	}
	endpoint, access, secret := os.Args[1], os.Args[2], os.Args[3]
	fmt.Printf("version aws-sdk-go %s\n", aws.SDKVersion)
	c := newClient(endpoint, access, secret)
	suffix := randomHex(4)
	alias := "alias/" + client + "-" + suffix

	step = "create_key"
	description := "kmsd client flow " + client
	created, err := c.CreateKey(&kms.CreateKeyInput{
		Description: aws.String(description),
		Tags: []*kms.Tag{
			{TagKey: aws.String("client"), TagValue: aws.String(client)},
			{TagKey: aws.String("run"), TagValue: aws.String(suffix)},
		},
	})
	check(err)
	md := created.KeyMetadata
	key1 := aws.StringValue(md.KeyId)
	expect("Arn", aws.StringValue(md.Arn), keyArn(key1))
	expect("AWSAccountId", aws.StringValue(md.AWSAccountId), account)
	expect("Description", aws.StringValue(md.Description), description)
	expect("KeyState", aws.StringValue(md.KeyState), kms.KeyStateEnabled)
	expect("KeyUsage", aws.StringValue(md.KeyUsage), kms.KeyUsageTypeEncryptDecrypt)
	expect("KeySpec", aws.StringValue(md.KeySpec), kms.KeySpecSymmetricDefault)
	expect("Enabled", aws.BoolValue(md.Enabled), true)
	if md.CreationDate == nil || md.CreationDate.IsZero() {
		fail("no CreationDate")
	}
	ok()

	step = "create_alias"
	_, err = c.CreateAlias(&kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(key1)})
	check(err)
	ok()

	step = "describe_key_by_alias"
	described, err := c.DescribeKey(&kms.DescribeKeyInput{KeyId: aws.String(alias)})
	check(err)
	expect("KeyId", aws.StringValue(described.KeyMetadata.KeyId), key1)
	expect("Description", aws.StringValue(described.KeyMetadata.Description), description)
	ok()

	step = "list_aliases_by_key"
	aliases, err := c.ListAliases(&kms.ListAliasesInput{KeyId: aws.String(key1)})
	check(err)
	if len(aliases.Aliases) != 1 {
		fail("want 1 alias, got %v", aliases.Aliases)
	}
	a := aliases.Aliases[0]
	expect("AliasName", aws.StringValue(a.AliasName), alias)
	expect("AliasArn", aws.StringValue(a.AliasArn), "arn:aws:kms:"+region+":"+account+":"+alias)
	expect("TargetKeyId", aws.StringValue(a.TargetKeyId), key1)
	expect("Truncated", aws.BoolValue(aliases.Truncated), false)
	ok()

	step = "list_resource_tags"
	tags, err := c.ListResourceTags(&kms.ListResourceTagsInput{KeyId: aws.String(key1)})
	check(err)
	gotTags := map[string]string{}
	for _, t := range tags.Tags {
		gotTags[aws.StringValue(t.TagKey)] = aws.StringValue(t.TagValue)
	}
	expect("Tags", gotTags, map[string]string{"client": client, "run": suffix})
	ok()

	step = "generate_data_key"
	ctx := map[string]*string{"purpose": aws.String("client-flow"), "client": aws.String(client)}
	dk, err := c.GenerateDataKey(&kms.GenerateDataKeyInput{
		KeyId: aws.String(alias), KeySpec: aws.String(kms.DataKeySpecAes256), EncryptionContext: ctx,
	})
	check(err)
	expect("KeyId", aws.StringValue(dk.KeyId), keyArn(key1))
	expect("len(Plaintext)", len(dk.Plaintext), 32)
	if len(dk.CiphertextBlob) == 0 {
		fail("empty CiphertextBlob")
	}
	ok()

	step = "decrypt"
	dec, err := c.Decrypt(&kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ctx})
	check(err)
	expect("Plaintext", dec.Plaintext, dk.Plaintext)
	expect("KeyId", aws.StringValue(dec.KeyId), keyArn(key1))
	expect("EncryptionAlgorithm", aws.StringValue(dec.EncryptionAlgorithm), kms.EncryptionAlgorithmSpecSymmetricDefault)
	ok()

	step = "decrypt_wrong_context"
	_, err = c.Decrypt(&kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob,
		EncryptionContext: map[string]*string{"purpose": aws.String("other")}})
	expectCode(err, kms.ErrCodeInvalidCiphertextException)
	if _, typed := err.(*kms.InvalidCiphertextException); !typed {
		fail("error is %T, want *kms.InvalidCiphertextException", err)
	}
	ok()

	step = "re_encrypt"
	created2, err := c.CreateKey(&kms.CreateKeyInput{Description: aws.String("second key " + client)})
	check(err)
	key2 := aws.StringValue(created2.KeyMetadata.KeyId)
	ctx2 := map[string]*string{"purpose": aws.String("re-encrypted")}
	re, err := c.ReEncrypt(&kms.ReEncryptInput{
		CiphertextBlob: dk.CiphertextBlob, SourceEncryptionContext: ctx,
		DestinationKeyId: aws.String(key2), DestinationEncryptionContext: ctx2,
	})
	check(err)
	expect("SourceKeyId", aws.StringValue(re.SourceKeyId), keyArn(key1))
	expect("KeyId", aws.StringValue(re.KeyId), keyArn(key2))
	if bytes.Equal(re.CiphertextBlob, dk.CiphertextBlob) {
		fail("ciphertext unchanged")
	}
	ok()

	step = "decrypt_re_encrypted"
	dec2, err := c.Decrypt(&kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: ctx2})
	check(err)
	expect("Plaintext", dec2.Plaintext, dk.Plaintext)
	expect("KeyId", aws.StringValue(dec2.KeyId), keyArn(key2))
	ok()

	step = "list_keys_paginated"
	pages := 0
	seen := map[string]bool{}
	err = c.ListKeysPages(&kms.ListKeysInput{Limit: aws.Int64(1)}, func(page *kms.ListKeysOutput, last bool) bool {
		pages++
		if len(page.Keys) > 1 {
			fail("page of %d keys with Limit 1", len(page.Keys))
		}
		for _, k := range page.Keys {
			id := aws.StringValue(k.KeyId)
			if seen[id] {
				fail("key %s listed twice", id)
			}
			seen[id] = true
			expect("KeyArn", aws.StringValue(k.KeyArn), keyArn(id))
		}
		return true
	})
	check(err)
	if !seen[key1] || !seen[key2] || pages < 2 {
		fail("%d pages, keys %v: want both %s and %s over several pages", pages, seen, key1, key2)
	}
	ok()

	step = "schedule_key_deletion"
	sched, err := c.ScheduleKeyDeletion(&kms.ScheduleKeyDeletionInput{KeyId: aws.String(key2), PendingWindowInDays: aws.Int64(7)})
	check(err)
	expect("KeyId", aws.StringValue(sched.KeyId), keyArn(key2))
	expect("KeyState", aws.StringValue(sched.KeyState), kms.KeyStatePendingDeletion)
	expect("PendingWindowInDays", aws.Int64Value(sched.PendingWindowInDays), int64(7))
	if sched.DeletionDate == nil || sched.DeletionDate.IsZero() {
		fail("no DeletionDate")
	}
	ok()

	step = "encrypt_pending_deletion"
	_, err = c.Encrypt(&kms.EncryptInput{KeyId: aws.String(key2), Plaintext: []byte("x")})
	rf := expectCode(err, kms.ErrCodeInvalidStateException)
	if _, typed := err.(*kms.InvalidStateException); !typed {
		fail("error is %T, want *kms.InvalidStateException", err)
	}
	expect("message", rf.Message(), keyArn(key2)+" is pending deletion.")
	ok()

	step = "missing_key"
	missing := "11111111-2222-3333-4444-" + randomHex(6)
	_, err = c.DescribeKey(&kms.DescribeKeyInput{KeyId: aws.String(missing)})
	rf = expectCode(err, kms.ErrCodeNotFoundException)
	if _, typed := err.(*kms.NotFoundException); !typed {
		fail("error is %T, want *kms.NotFoundException", err)
	}
	expect("message", rf.Message(), "Key '"+keyArn(missing)+"' does not exist")
	ok()

	step = "sign_verify"
	signKey, err := c.CreateKey(&kms.CreateKeyInput{
		KeySpec: aws.String(kms.KeySpecEccNistP256), KeyUsage: aws.String(kms.KeyUsageTypeSignVerify)})
	check(err)
	signID := aws.StringValue(signKey.KeyMetadata.KeyId)
	expect("KeySpec", aws.StringValue(signKey.KeyMetadata.KeySpec), kms.KeySpecEccNistP256)
	expect("SigningAlgorithms", aws.StringValueSlice(signKey.KeyMetadata.SigningAlgorithms), []string{kms.SigningAlgorithmSpecEcdsaSha256})
	message := []byte("message signed by " + client)
	signed, err := c.Sign(&kms.SignInput{KeyId: aws.String(signID), Message: message,
		MessageType: aws.String(kms.MessageTypeRaw), SigningAlgorithm: aws.String(kms.SigningAlgorithmSpecEcdsaSha256)})
	check(err)
	expect("KeyId", aws.StringValue(signed.KeyId), keyArn(signID))
	expect("SigningAlgorithm", aws.StringValue(signed.SigningAlgorithm), kms.SigningAlgorithmSpecEcdsaSha256)
	verified, err := c.Verify(&kms.VerifyInput{KeyId: aws.String(signID), Message: message, Signature: signed.Signature,
		MessageType: aws.String(kms.MessageTypeRaw), SigningAlgorithm: aws.String(kms.SigningAlgorithmSpecEcdsaSha256)})
	check(err)
	expect("SignatureValid", aws.BoolValue(verified.SignatureValid), true)
	_, err = c.Verify(&kms.VerifyInput{KeyId: aws.String(signID), Message: []byte("another message"), Signature: signed.Signature,
		MessageType: aws.String(kms.MessageTypeRaw), SigningAlgorithm: aws.String(kms.SigningAlgorithmSpecEcdsaSha256)})
	expectCode(err, kms.ErrCodeKMSInvalidSignatureException)
	if _, typed := err.(*kms.KMSInvalidSignatureException); !typed {
		fail("error is %T, want *kms.KMSInvalidSignatureException", err)
	}
	// The signature checks out with the public key outside KMS too.
	pub, err := c.GetPublicKey(&kms.GetPublicKeyInput{KeyId: aws.String(signID)})
	check(err)
	parsed, err := x509.ParsePKIXPublicKey(pub.PublicKey)
	check(err)
	ecPub, isEC := parsed.(*ecdsa.PublicKey)
	if !isEC || ecPub.Curve.Params().Name != "P-256" {
		fail("public key is %T, want a P-256 ECDSA key", parsed)
	}
	digest := sha256.Sum256(message)
	if !ecdsa.VerifyASN1(ecPub, digest[:], signed.Signature) {
		fail("crypto/ecdsa does not verify the signature")
	}
	ok()

	step = "generate_verify_mac"
	macKey, err := c.CreateKey(&kms.CreateKeyInput{
		KeySpec: aws.String(kms.KeySpecHmac256), KeyUsage: aws.String(kms.KeyUsageTypeGenerateVerifyMac)})
	check(err)
	macID := aws.StringValue(macKey.KeyMetadata.KeyId)
	expect("MacAlgorithms", aws.StringValueSlice(macKey.KeyMetadata.MacAlgorithms), []string{kms.MacAlgorithmSpecHmacSha256})
	mac, err := c.GenerateMac(&kms.GenerateMacInput{KeyId: aws.String(macID), Message: message,
		MacAlgorithm: aws.String(kms.MacAlgorithmSpecHmacSha256)})
	check(err)
	expect("len(Mac)", len(mac.Mac), 32)
	expect("KeyId", aws.StringValue(mac.KeyId), keyArn(macID))
	vm, err := c.VerifyMac(&kms.VerifyMacInput{KeyId: aws.String(macID), Message: message, Mac: mac.Mac,
		MacAlgorithm: aws.String(kms.MacAlgorithmSpecHmacSha256)})
	check(err)
	expect("MacValid", aws.BoolValue(vm.MacValid), true)
	_, err = c.VerifyMac(&kms.VerifyMacInput{KeyId: aws.String(macID), Message: []byte("another message"), Mac: mac.Mac,
		MacAlgorithm: aws.String(kms.MacAlgorithmSpecHmacSha256)})
	expectCode(err, kms.ErrCodeKMSInvalidMacException)
	if _, typed := err.(*kms.KMSInvalidMacException); !typed {
		fail("error is %T, want *kms.KMSInvalidMacException", err)
	}
	ok()

	if len(os.Args) == 5 {
		step = "wrong_secret"
		_, err = newClient(endpoint, access, os.Args[4]).ListKeys(&kms.ListKeysInput{})
		rf = expectCode(err, "InvalidSignatureException")
		if !strings.Contains(rf.Message(), "The request signature we calculated does not match") {
			fail("message %q", rf.Message())
		}
		ok()
	}
	fmt.Println("PASS " + client)
}

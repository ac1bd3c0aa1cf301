// Package keypair loads TLS certificates whose private key may be encrypted with a
// password, as Patroni's key_password / keyfile_password allow: PKCS#8 "ENCRYPTED
// PRIVATE KEY" (openssl genpkey -aes256, openssl pkcs8 -topk8) and the legacy
// "Proc-Type: 4,ENCRYPTED" PEM form (openssl rsa -aes256).
package keypair

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/youmark/pkcs8"
)

// Load reads certFile and keyFile (the key may sit in the certificate file when keyFile
// is empty) and decrypts the key with password when it is encrypted. Errors name the
// file and the reason, never the password.
func Load(certFile, keyFile, password string) (tls.Certificate, error) {
	if keyFile == "" {
		keyFile = certFile
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key %s: %w", keyFile, err)
	}
	plain, err := decrypt(keyPEM, password)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("key %s: %w", keyFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, plain)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate %s / key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// decrypt returns the key PEM with every encrypted private key block decrypted.
func decrypt(data []byte, password string) ([]byte, error) {
	var out []byte
	for {
		blk, rest := pem.Decode(data)
		if blk == nil {
			break
		}
		data = rest
		switch {
		case blk.Type == "ENCRYPTED PRIVATE KEY":
			if password == "" {
				return nil, errors.New("the key is encrypted: set key_password (keyfile_password for the REST API)")
			}
			key, err := pkcs8.ParsePKCS8PrivateKey(blk.Bytes, []byte(password))
			if err != nil {
				return nil, errors.New("cannot decrypt the key: wrong password or unsupported cipher")
			}
			der, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				return nil, err
			}
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
		//lint:ignore SA1019 the legacy encrypted PEM form is what older openssl writes; users bring such keys
		case x509.IsEncryptedPEMBlock(blk):
			if password == "" {
				return nil, errors.New("the key is encrypted: set key_password (keyfile_password for the REST API)")
			}
			//lint:ignore SA1019 see above
			der, err := x509.DecryptPEMBlock(blk, []byte(password))
			if err != nil {
				return nil, errors.New("cannot decrypt the key: wrong password")
			}
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: blk.Type, Bytes: der})...)
		default:
			out = append(out, pem.EncodeToMemory(blk)...)
		}
	}
	// A password given for a plain key is harmless: the key is used as it is.
	return out, nil
}

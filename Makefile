# Makefile: the project's release packaging and installation, as shortcuts
# to the scripts under packaging/ and to bindings/c/Makefile. Building and
# testing are cargo's and tests/test-all.sh's.
#
#   make dist               target/packages/smtp-submit-VERSION-ARCH.tar.gz
#                           (a /usr/local tree: lib, include, bin, man, PHP)
#   make deb                target/packages/smtp-submit_VERSION-1_ARCH.deb and
#                           libsmtp-dev_VERSION-1_ARCH.deb (dpkg-deb)
#   make install-library    build libsmtp and install it with its header and
#                           smtp.pc into PREFIX (/usr/local), where the PHP
#                           binding finds it without configuration
#   make check-packages     build both, check their contents, lintian, and
#                           (as root) install, use and purge the .deb
#                           (tests/packaging.sh)
#
# CARGO_TARGET_DIR and OUTDIR (default $(CARGO_TARGET_DIR)/packages) are
# honoured; see packaging/common.sh.

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
PREFIX ?= /usr/local

.PHONY: all dist deb install-library check-packages

all:
	@sed -n '5,16p' $(ROOT)/Makefile | sed 's/^# \{0,1\}//'

dist:
	bash $(ROOT)/packaging/dist.sh

deb:
	bash $(ROOT)/packaging/deb.sh

install-library:
	$(MAKE) -C $(ROOT)/bindings/c install PREFIX=$(PREFIX)

check-packages:
	bash $(ROOT)/tests/packaging.sh

# @summary The tapir package, shared by tapir::client and tapir::server so that a server
#   that also backs itself up declares it once.
#
# @example
#   include tapir::package
class tapir::package {
  # the Debian package (scripts/package) brings the binary, the tapir user (home
  # /var/lib/tapir, shell /bin/sh for sshd's forced command) and /etc/tapir
  package { 'tapir':
    ensure => installed,
  }
}

# @summary The tapir backup server: collects every client's disklist.d fragment.
#
# @example
#   node 'backup.example.org' { include tapir::server }
#
# After a client appears, record its host key from its facts and check it:
#   tapir enroll web1.example.org --fingerprint "$(facter -p ssh.ed25519.fingerprints.sha256)"
#   tapir check
# (facter gives "SSHFP 4 2 <hex>", which enroll takes as it is.)
class tapir::server {
  include tapir::package
  file { '/etc/tapir/disklist.d':
    ensure  => directory,
    require => Class['tapir::package'],
    purge   => true,
    recurse => true,
  }
  File <<| tag == 'tapir-disklist' |>>
}

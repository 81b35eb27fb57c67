# @summary A tapir client: the package, the agent's rules, the backup server's forced-command key, and
#   this host's DLEs exported as a disklist.d fragment for the server to collect.
#
# @example
#   node 'web1.example.org' {
#     class { 'tapir::client': dles => ['/etc', '/var/www'], dumptype => 'ssh-fast' }
#   }
#
# @param dles
#   Directories to back up, absolute paths.
# @param dumptype
#   The server's dumptype for them.
# @param server_key_line
#   The line `tapir enroll HOST` prints on the server (restrict,command="tapir agent" ...).
# @param allow
#   Roots the agent may dump (default: the DLEs).
class tapir::client (
  Array[Pattern[/\A\//]] $dles,
  String $dumptype = 'ssh-fast',
  String $server_key_line = lookup('tapir::server_key_line'),
  Array[String] $allow = $dles,
) {
  $fqdn = $facts['networking']['fqdn']
  $allowed = $allow.map |$d| { "\"${d}\"" }.join(', ')

  # the Debian package (scripts/package) brings the binary, the tapir user (home
  # /var/lib/tapir, shell /bin/sh for sshd's forced command) and /etc/tapir
  package { 'tapir':
    ensure => installed,
  }
  file { '/etc/tapir/agent.toml':
    content => "allow = [${allowed}]\nlog = \"/var/log/tapir-agent.log\"\n",
    require => Package['tapir'],
  }
  file { '/var/lib/tapir/.ssh':
    ensure  => directory,
    owner   => 'tapir',
    group   => 'tapir',
    mode    => '0700',
    require => Package['tapir'],
  }
  file { '/var/lib/tapir/.ssh/authorized_keys':
    content => "${server_key_line}\n",
    owner   => 'tapir',
    group   => 'tapir',
    mode    => '0600',
  }
  # the server enrolls this host with the fingerprint from its facts (an SSHFP record)
  @@file { "/etc/tapir/disklist.d/${fqdn}.conf":
    tag     => 'tapir-disklist',
    content => $dles.map |$d| { "${fqdn} \"${d}\" ${dumptype}\n" }.join(''),
  }
}

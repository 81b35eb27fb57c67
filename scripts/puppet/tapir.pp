# Puppet example: every client exports its DLEs as disklist.d fragments and gets the backup
# server's key as a forced-command authorized_keys line; the server collects the fragments.
#
#   node 'web1.example.org' { tapir::client { dles => ['/etc', '/var/www'], dumptype => 'ssh-fast' } }
#   node 'backup.example.org' { include tapir::server }

class tapir::client (
  Array[String] $dles,
  String $dumptype = 'ssh-fast',
  # the line `tapir enroll HOST` prints on the server (restrict,command="tapir agent" …)
  String $server_key_line = lookup('tapir::server_key_line'),
  Array[String] $allow = $dles,
) {
  user { 'tapir': ensure => present, managehome => true, system => true }
  file { '/etc/tapir': ensure => directory }
  file { '/etc/tapir/agent.toml':
    content => "allow = [${join($allow.map |$d| { "\"${d}\"" }, ', ')}]\nlog = \"/var/log/tapir-agent.log\"\n",
  }
  file { '/home/tapir/.ssh': ensure => directory, owner => 'tapir', mode => '0700' }
  file { '/home/tapir/.ssh/authorized_keys':
    content => "${server_key_line}\n", owner => 'tapir', mode => '0600',
  }
  @@file { "/etc/tapir/disklist.d/${facts['networking']['hostname']}.conf":
    tag     => 'tapir-disklist',
    content => $dles.map |$d| { "${facts['networking']['hostname']} \"${d}\" ${dumptype}\n" }.join(''),
  }
}

class tapir::server {
  file { '/etc/tapir/disklist.d': ensure => directory, purge => true, recurse => true }
  File <<| tag == 'tapir-disklist' |>>
  # after a new client appears: `tapir enroll HOST` records its host key (TOFU, or give
  # --fingerprint from the client's facts), then `tapir check`.
}

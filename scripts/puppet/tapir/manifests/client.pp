# @summary A tapir client: the package, the agent's rules, the backup server's forced-command key, and
#   this host's DLEs exported as a disklist.d fragment for the server to collect.
#
# The server's key line is what `tapir enroll HOST` prints on the backup server (it is the
# same for every client of that server). Put it in Hiera once, as `tapir::server_key_line`,
# or pass it to the class. Without it the class still installs the agent but no key: the
# catalog compiles with a warning, and the server cannot log in until the line is given.
# The key is an ssh_authorized_key resource: Puppet 6 and later have it in the sshkeys_core
# module (Debian: puppet-module-puppetlabs-sshkeys-core; puppet-agent packages bundle it).
#
# @example With the key line in Hiera
#   # common.yaml: tapir::server_key_line: 'restrict,command="tapir agent" ssh-ed25519 AAAA… tapir@backup'
#   node 'web1.example.org' {
#     class { 'tapir::client': dles => ['/etc', '/var/www'], dumptype => 'ssh-fast' }
#   }
#
# @example The backup server backing itself up
#   node 'backup.example.org' {
#     include tapir::server
#     class { 'tapir::client': dles => ['/etc'] }
#   }
#
# @param dles
#   Directories to back up, absolute paths.
# @param dumptype
#   The server's dumptype for them.
# @param server_key_line
#   The line `tapir enroll HOST` prints on the server (restrict,command="tapir agent" TYPE
#   KEY COMMENT); default: Hiera's `tapir::server_key_line`, else none.
# @param allow
#   Roots the agent may dump (default: the DLEs).
class tapir::client (
  Array[Pattern[/\A\//]] $dles,
  String $dumptype = 'ssh-fast',
  Optional[String] $server_key_line = lookup('tapir::server_key_line', Optional[String], 'first', undef),
  Array[String] $allow = $dles,
) {
  include tapir::package
  $fqdn = $facts['networking']['fqdn']
  $allowed = $allow.map |$d| { "\"${d}\"" }.join(', ')

  file { '/etc/tapir/agent.toml':
    content => "allow = [${allowed}]\nlog = \"/var/log/tapir-agent.log\"\n",
    require => Class['tapir::package'],
  }
  file { '/var/lib/tapir/.ssh':
    ensure  => directory,
    owner   => 'tapir',
    group   => 'tapir',
    mode    => '0700',
    require => Class['tapir::package'],
  }
  if $server_key_line =~ Undef {
    warning(@("MSG"/L))
      tapir::client: no server key line (set tapir::server_key_line in Hiera to what \
      `tapir enroll ${fqdn}` prints on the backup server); the server cannot log in yet
      | MSG
  } elsif $server_key_line =~ /\A((?:[^\s"]|"[^"]*")+)\s+(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+)\s+(\S+)\s*(.*)\z/ {
    # options are split at commas outside quotes (from="a,b" stays one)
    $options = split($1, /,(?=(?:[^"]*"[^"]*")*[^"]*\z)/)
    ssh_authorized_key { "tapir-server ${4}":
      ensure  => present,
      user    => 'tapir',
      type    => $2,
      key     => $3,
      options => $options,
      target  => '/var/lib/tapir/.ssh/authorized_keys',
      require => File['/var/lib/tapir/.ssh'],
    }
  } else {
    fail("tapir::client: server_key_line is not a key line (OPTIONS TYPE KEY COMMENT): ${server_key_line}")
  }
  # the server enrolls this host with the fingerprint from its facts (an SSHFP record)
  @@file { "/etc/tapir/disklist.d/${fqdn}.conf":
    tag     => 'tapir-disklist',
    content => $dles.map |$d| { "${fqdn} \"${d}\" ${dumptype}\n" }.join(''),
  }
}

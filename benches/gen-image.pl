#!/usr/bin/perl
# Writes the file trees of the pull benchmark's layers, deterministically.
#
# usage: gen-image.pl OUTDIR SEED RANDOM_FRACTION MIB...
#
# One directory OUTDIR/layerN per MIB argument, holding about that many MiB
# in files whose sizes follow a rough real-image mix (many small files, a
# few large ones). Each file is RANDOM_FRACTION incompressible bytes (AES-CTR
# keystream from openssl, keyed by SEED) followed by text slices from a
# log-like corpus, so gzip sees about the ratio real images have.
use strict;
use warnings;

my ($out, $seed, $rfrac, @mib) = @ARGV;
die "usage: gen-image.pl OUTDIR SEED RANDOM_FRACTION MIB...\n" unless @mib;
srand($seed);

my @w = qw(request response handler server client config module import export static const return value
  error warning info debug trace package library function method class struct interface buffer stream reader
  writer socket listener connection session token cache layer image container volume network mount process
  thread signal pid user group path file directory archive digest manifest registry blob upload download status
  code message header body query param route middleware service worker queue job task schedule retry timeout
  deadline context cancel parent child node tree graph index table column row key hash map list vector array
  string bytes int float bool null true false);
my $corpus = '';
while (length($corpus) < 8 * 1024 * 1024) {
    my @l = map { $w[int(rand(@w))] } 1 .. (4 + int(rand(10)));
    $corpus .= sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s %s: %s id=%d took=%dms\n",
        2024, 1 + int(rand(12)), 1 + int(rand(28)), int(rand(24)), int(rand(60)), int(rand(60)),
        int(rand(1000)), (qw(INFO DEBUG WARN ERROR))[int(rand(4))], $w[int(rand(@w))], join(' ', @l),
        int(rand(1000000)), int(rand(5000)));
}
my $clen = length($corpus);

# An endless deterministic keystream: AES-128-CTR over zeros.
open(my $rnd, '-|', "openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:burrow-bench-$seed -in /dev/zero 2>/dev/null")
  or die "openssl: $!";
binmode($rnd);

sub pick_size {
    my $x = rand();
    return 512 + int(rand(8 * 1024)) if $x < 0.75;
    return 8 * 1024 + int(rand(120 * 1024)) if $x < 0.95;
    return 128 * 1024 + int(rand(1920 * 1024)) if $x < 0.995;
    return 2 * 1024 * 1024 + int(rand(22 * 1024 * 1024));
}

my @ext = qw(so py txt json js h);
my %made;
for my $i (0 .. $#mib) {
    my $target = $mib[$i] * 1024 * 1024;
    my $root = "$out/layer$i";
    my ($written, $n) = (0, 0);
    while ($written < $target) {
        my $size = pick_size();
        $size = $target - $written if $written + $size > $target;
        my $dir = sprintf("%s/usr/lib/pkg%03d/sub%02d", $root, int($n / 64), int(rand(8)));
        $made{$dir}++ or system('mkdir', '-p', $dir) == 0 or die "mkdir $dir";
        my $path = sprintf("%s/f%05d.%s", $dir, $n, $ext[int(rand(@ext))]);
        open(my $f, '>', $path) or die "$path: $!";
        binmode($f);
        my $r = int($size * $rfrac);
        if ($r > 0) {
            my $got = read($rnd, my $buf, $r);
            die "openssl keystream ended" unless $got == $r;
            print $f $buf;
        }
        my $t = $size - $r;
        while ($t > 0) {
            my $off = int(rand($clen - 1));
            my $len = $clen - $off < $t ? $clen - $off : $t;
            print $f substr($corpus, $off, $len);
            $t -= $len;
        }
        close($f) or die "$path: $!";
        $written += $size;
        $n++;
    }
    print STDERR "layer$i: $n files, $written bytes\n";
}
close($rnd);

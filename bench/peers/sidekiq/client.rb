# client.rb -- the producer side of the Sidekiq peer (modes: see
# bench/peers/node/common.js): push_bulk for bulk, perform_async otherwise.
require 'json'
require_relative 'app'

def report(h)
  puts JSON.generate(h)
end

def paced(rate, count)
  t0 = Peers.mono
  count.times do |i|
    ahead = t0 + i.to_f / rate - Peers.mono
    sleep(ahead) if ahead.positive?
    yield i
  end
  count / (Peers.mono - t0)
end

mode, a, b = ARGV
Sidekiq.redis { |r| r.ping } # connect before any timing
case mode
when 'bulk'
  n = Integer(a)
  t0 = Peers.mono
  Sidekiq::Client.push_bulk('class' => Noop, 'args' => (1..n).map { |i| [i] })
  report(seconds: Peers.mono - t0)
when 'one'
  n = Integer(a)
  t0 = Peers.mono
  (1..n).each { |i| Noop.perform_async(i) }
  report(seconds: Peers.mono - t0)
when 'sleep'
  Sidekiq::Client.push_bulk('class' => SleepJob, 'args' => Array.new(Integer(a)) { [Integer(b)] })
when 'lat'
  Sidekiq.redis { |r| r.del('peers:lat') }
  LatJob.perform_async(Peers.mono)
  600.times do
    break if Sidekiq.redis { |r| r.llen('peers:lat') }.positive?
    sleep 0.05
  end
  raise 'warm-up job not run within 30 s' if Sidekiq.redis { |r| r.llen('peers:lat') }.zero?
  Sidekiq.redis { |r| r.del('peers:lat') }
  rate = paced(Float(a), Integer(b)) { LatJob.perform_async(Peers.mono) }
  report(rate: rate)
else
  abort "unknown mode #{mode}"
end

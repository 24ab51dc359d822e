# app.rb -- Sidekiq as a peer of tq: the job classes, and the one thing
# added to the server: a middleware that counts completed jobs in memory and
# writes the count to peers:done every 1,000 jobs and at PEERS_N (Sidekiq
# keeps no per-job record of success, and its stat:processed is flushed only
# by the heartbeat, every few seconds), and also when 50 ms have passed
# since the last write, so slow jobs are counted too. Redis comes from REDIS_URL, which
# Sidekiq reads itself; everything else is Sidekiq's default except the log
# level (warn: no line per job, as tq-worker runs in the benchmark).
#
# Redis.silence_deprecations: Debian pairs Sidekiq 6.4 with redis-rb 4.8,
# which prints a deprecation warning for Sidekiq's own calls (brpop's
# positional timeout, sadd) on every fetch and every push; the warnings
# would be what is measured.
require 'sidekiq'
Redis.silence_deprecations = true

module Peers
  def self.mono
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  class DoneCounter
    @lock = Mutex.new
    @n = 0
    @flush_at = Integer(ENV.fetch('PEERS_N', '0'))
    @flushed = 0.0
    class << self
      def bump
        now = Peers.mono
        n = @lock.synchronize do
          @n += 1
          flush = (@n % 1000).zero? || @n == @flush_at || now - @flushed > 0.05
          @flushed = now if flush
          flush ? @n : nil
        end
        Sidekiq.redis { |r| r.set('peers:done', n) } if n
      end
    end

    def call(_worker, _job, _queue)
      yield
      DoneCounter.bump
    end
  end
end

class Noop
  include Sidekiq::Worker
  def perform(_i); end
end

class SleepJob
  include Sidekiq::Worker
  def perform(ms)
    sleep(ms / 1000.0)
  end
end

class LatJob
  include Sidekiq::Worker
  def perform(t)
    d = Peers.mono - t
    Sidekiq.redis { |r| r.rpush('peers:lat', (d * 1e6).round) }
  end
end

Sidekiq.configure_server do |config|
  config.server_middleware { |chain| chain.add Peers::DoneCounter }
end
Sidekiq.logger.level = Logger::WARN

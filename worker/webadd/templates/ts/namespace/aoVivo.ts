"use client";
/**
 * Live updates by Supabase Realtime: the database broadcasts a "changed" ping on the private topics
 * `imagefill:progress` and `imagefill:review` (migration 75_realtime_broadcast), and the panel
 * answers each ping with one fetch of what changed. Live only while both channels are SUBSCRIBED;
 * before that, or when Realtime is off, refuses the join or drops, the panel polls as it always did
 * (supabase-js keeps reconnecting and rejoining on its own, and the panel goes live again).
 */
import { useEffect, useRef, useState } from "react";
import { createBrowserClient } from "@supabase/ssr";
import type { RealtimeChannel } from "@supabase/supabase-js";

/** The project's public URL and key (read on the server at run time, never built into the bundle). */
export interface ConfigAoVivo {
  url: string;
  key: string;
}

export const TOPICOS = { progress: "imagefill:progress", review: "imagefill:review" } as const;
/** One more fetch this long after a burst's last ping: the database sends at most one message per
 * topic per 250 ms, so the change that fell inside the last window is read too. */
const REFETCH_AFTER_BURST_MS = 1000;

type Topico = keyof typeof TOPICOS;

/** `true` while the panel is live; `onChange(topic)` runs on each ping (at most one fetch in flight
 * per topic, the pings that arrive meanwhile fold into one more). */
export function useAoVivo(config: ConfigAoVivo | null, onChange: (topic: Topico) => Promise<void>): boolean {
  const [live, setLive] = useState(false);
  const handler = useRef(onChange);
  useEffect(() => {
    handler.current = onChange;
  }, [onChange]);

  useEffect(() => {
    if (!config) return;
    const supabase = createBrowserClient(config.url, config.key);
    const subscribed = new Set<Topico>();
    const busy = new Map<Topico, boolean>();
    const again = new Map<Topico, boolean>();
    const trailing = new Map<Topico, ReturnType<typeof setTimeout>>();
    let stopped = false;

    async function fetchNow(topic: Topico): Promise<void> {
      if (busy.get(topic)) {
        again.set(topic, true);
        return;
      }
      busy.set(topic, true);
      try {
        do {
          again.set(topic, false);
          await handler.current(topic);
        } while (again.get(topic) && !stopped);
      } finally {
        busy.set(topic, false);
      }
    }

    function ping(topic: Topico): void {
      void fetchNow(topic);
      clearTimeout(trailing.get(topic));
      trailing.set(topic, setTimeout(() => void fetchNow(topic), REFETCH_AFTER_BURST_MS));
    }

    const topics = Object.keys(TOPICOS) as Topico[];
    let channels: RealtimeChannel[] = [];
    void (async () => {
      // Private channels are authorised with the signed-in user's token (the session in the
      // cookies): set before the joins, which carry it.
      await supabase.realtime.setAuth();
      if (stopped) return;
      channels = topics.map((topic) =>
        supabase
          .channel(TOPICOS[topic], { config: { private: true } })
          .on("broadcast", { event: "changed" }, () => ping(topic))
          .subscribe((status) => {
            if (stopped) return;
            if (status === "SUBSCRIBED") {
              subscribed.add(topic);
              void fetchNow(topic); // what changed while the channel was not there
            } else {
              subscribed.delete(topic);
            }
            setLive(subscribed.size === topics.length);
          }),
      );
    })();

    return () => {
      stopped = true;
      for (const timer of trailing.values()) clearTimeout(timer);
      for (const channel of channels) void supabase.removeChannel(channel);
      setLive(false);
    };
  }, [config?.url, config?.key]); // eslint-disable-line react-hooks/exhaustive-deps

  return live;
}

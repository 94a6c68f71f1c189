/**
 * The report's two charts as SVG text, drawn by vega-lite + vega in Node
 * (the 'none' renderer and `toSVG()`: no browser, no native canvas).
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** The points of the two charts, for larder (bench/charts.ts) and joblib (bench/joblib_bench.py). */
export interface ChartSeries {
  /** CPU-bound ~20 ms tasks: time with one job / time with `nJobs` jobs. */
  speedupByNJobs: { nJobs: number; speedup: number }[];
  /** Throughput on 2 workers against the single-thread work of one task (µs). */
  tasksPerSecondBySize: { taskUs: number; tasksPerSecond: number; tasks: number }[];
}

/** One line of a chart: who measured it and its points. */
export interface ChartLine<P> {
  name: string;
  points: P[];
  /** Drawn dashed (a reference line, not a measurement). */
  reference?: boolean;
}

const WIDTH = 420;
const HEIGHT = 260;

/** Renders a vega-lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function rows<P extends object>(lines: ChartLine<P>[]) {
  return lines.flatMap((line) => line.points.map((point) => ({ ...point, series: line.name, reference: !!line.reference })));
}

const PALETTE = ['#e45756', '#4c78a8', '#72b7b2', '#54a24b'];
const REFERENCE_COLOR = '#9d9d9d';

/** Axis encoding of one field (a subset of vega-lite's position definition). */
interface Axis {
  field: string;
  title: string;
  scale?: { type: 'log' };
  axis?: { values?: number[]; format?: string };
}

/**
 * A line chart with points: one colour per line (reference lines grey and
 * dashed), the legend below.
 */
function lineChart<P extends object>(title: string, lines: ChartLine<P>[], x: Axis, y: Axis): Promise<string> {
  let next = 0;
  const range = lines.map((line) => (line.reference ? REFERENCE_COLOR : PALETTE[next++ % PALETTE.length]!));
  return renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: WIDTH,
    height: HEIGHT,
    data: { values: rows(lines) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { ...x, type: 'quantitative' },
      y: { ...y, type: 'quantitative' },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom' }, scale: { domain: lines.map((line) => line.name), range } },
      strokeDash: { field: 'reference', type: 'nominal', legend: null, scale: { domain: [false, true], range: [[1, 0], [4, 3]] } },
    },
  });
}

/**
 * Parallel speedup against nJobs on CPU-bound tasks: one line per measured
 * library plus the ideal `min(nJobs, cores)` dashed.
 *
 * @example
 * await writeFile('bench/charts/speedup.svg', await speedupSvg([{ name: 'larder', points }], 2));
 */
export async function speedupSvg(lines: ChartLine<ChartSeries['speedupByNJobs'][number]>[], cores: number): Promise<string> {
  const nJobs = [...new Set(lines.flatMap((line) => line.points.map((point) => point.nJobs)))].sort((a, b) => a - b);
  const ideal = { name: `ideal on ${cores} cores`, reference: true, points: nJobs.map((n) => ({ nJobs: n, speedup: Math.min(n, cores) })) };
  return lineChart(
    'Speedup against nJobs (CPU-bound ~20 ms tasks)',
    [...lines, ideal],
    { field: 'nJobs', title: 'nJobs', axis: { values: nJobs, format: 'd' } },
    { field: 'speedup', title: 'speedup over nJobs = 1 (×)' },
  );
}

/**
 * Tasks per second on 2 workers against the work in one task, log-log: one
 * line per measured library plus the ideal `2 cores / task time` dashed.
 *
 * @example
 * await writeFile('bench/charts/throughput.svg', await throughputSvg([{ name: 'larder', points }]));
 */
export async function throughputSvg(lines: ChartLine<ChartSeries['tasksPerSecondBySize'][number]>[]): Promise<string> {
  // From 1 µs up: below that the ideal line would dwarf every measurement.
  const sizes = lines.flatMap((line) => line.points.map((point) => point.taskUs)).filter((us) => us >= 1);
  const ideal = {
    name: 'ideal on 2 cores',
    reference: true,
    // 2e6 / us is a straight line on log-log axes: its two ends draw it.
    points: (sizes.length ? [Math.min(...sizes), Math.max(...sizes)] : []).map((us) => ({ taskUs: us, tasksPerSecond: 2e6 / us, tasks: 0 })),
  };
  return lineChart(
    'Tasks per second against task size (2 workers)',
    [...lines, ideal],
    { field: 'taskUs', title: 'work per task, one thread (µs)', scale: { type: 'log' }, axis: { format: '~g' } },
    { field: 'tasksPerSecond', title: 'tasks per second', scale: { type: 'log' }, axis: { format: '~s' } },
  );
}

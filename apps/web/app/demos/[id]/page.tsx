import type { Metadata } from 'next';
import { notFound } from 'next/navigation';
import { DemoRunner } from '../../../components/demo-runner';
import { DEMOS, findDemo } from '../../../lib/demos';

export function generateStaticParams() {
  return DEMOS.map((demo) => ({ id: demo.id }));
}

export const dynamicParams = false;

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const { id } = await params;
  return { title: findDemo(id)?.title ?? 'Demo' };
}

export default async function DemoPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  if (!findDemo(id)) notFound();
  return <DemoRunner demoId={id} />;
}
